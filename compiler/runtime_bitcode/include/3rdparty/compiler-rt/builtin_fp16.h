/*!
 * \file 3rdparty/compiler-rt/builtin_fp16.h
 * \brief websd's own stand-in for a TVM header that the apache-tvm wheel includes but does not ship.
 *
 * contrib/sort/sort.cc compares float16 keys by widening them to float with
 * __extendXfYf2__<uint16_t, uint16_t, 10, float, uint32_t, 23>. This is that widening, written
 * for any pair of IEEE-754 binary formats where the destination is the wider one: every source
 * value, subnormals included, is exact in the destination.
 */
#ifndef WEBSD_BUILTIN_FP16_H_
#define WEBSD_BUILTIN_FP16_H_

#include <cstdint>
#include <cstring>

template <typename SrcT, typename SrcRepT, int SrcSigBits, typename DstT, typename DstRepT,
          int DstSigBits>
inline DstT __extendXfYf2__(SrcT value) {
  constexpr int kSrcBits = sizeof(SrcRepT) * 8;
  constexpr int kDstBits = sizeof(DstRepT) * 8;
  constexpr int kSrcExpBits = kSrcBits - SrcSigBits - 1;
  constexpr int kDstExpBits = kDstBits - DstSigBits - 1;
  constexpr int kSrcExpMax = (1 << kSrcExpBits) - 1;
  constexpr int kDstExpMax = (1 << kDstExpBits) - 1;
  constexpr int kBiasDelta = (kDstExpMax >> 1) - (kSrcExpMax >> 1);
  constexpr int kSigShift = DstSigBits - SrcSigBits;
  constexpr SrcRepT kSrcSigMask = (SrcRepT(1) << SrcSigBits) - 1;

  SrcRepT bits;
  std::memcpy(&bits, &value, sizeof(bits));
  const DstRepT sign = DstRepT(bits >> (kSrcBits - 1)) << (kDstBits - 1);
  int exponent = (bits >> SrcSigBits) & kSrcExpMax;
  DstRepT significand = bits & kSrcSigMask;

  if (exponent == kSrcExpMax) {  // infinity and NaN keep their payload
    exponent = kDstExpMax;
  } else if (exponent != 0) {  // normal
    exponent += kBiasDelta;
  } else if (significand != 0) {  // subnormal: normalise, it is a normal number when wider
    exponent = 1 + kBiasDelta;
    while (!(significand >> SrcSigBits)) {
      significand <<= 1;
      --exponent;
    }
    significand &= kSrcSigMask;
  }  // zero stays zero

  const DstRepT out = sign | (DstRepT(exponent) << DstSigBits) | (significand << kSigShift);
  DstT result;
  std::memcpy(&result, &out, sizeof(result));
  return result;
}

#endif  // WEBSD_BUILTIN_FP16_H_
