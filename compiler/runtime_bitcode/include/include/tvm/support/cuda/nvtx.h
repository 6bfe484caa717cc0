/*!
 * \file tvm/support/cuda/nvtx.h
 * \brief websd's own stand-in for a TVM header that the apache-tvm wheel includes but does not ship.
 *
 * The VM marks ranges for NVIDIA's profiler. The browser has no such profiler: a range is a no-op.
 */
#ifndef TVM_SUPPORT_CUDA_NVTX_H_
#define TVM_SUPPORT_CUDA_NVTX_H_

namespace tvm {
namespace support {

class NVTXScopedRange {
 public:
  template <typename Name>
  explicit NVTXScopedRange(const Name&) {}
};

}  // namespace support
}  // namespace tvm

#endif  // TVM_SUPPORT_CUDA_NVTX_H_
