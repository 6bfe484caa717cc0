/*!
 * \file tvm/support/io.h
 * \brief websd's own stand-in for a TVM header that the apache-tvm wheel includes but does not ship.
 *
 * The runtime sources read and write the VM executable, tensors and the WebGPU module through
 * support::Stream: raw bytes plus typed Read/Write that dispatch to support::Serializer
 * (serializer.h). Only what those call sites use is declared here.
 */
#ifndef TVM_SUPPORT_IO_H_
#define TVM_SUPPORT_IO_H_

#include <cstddef>

namespace tvm {
namespace support {

/*! \brief How a value of type T is laid out in a stream; specialised in serializer.h. */
template <typename T, typename Enable = void>
struct Serializer;

/*! \brief A byte stream with typed helpers on top of two raw operations. */
class Stream {
 public:
  virtual ~Stream() = default;
  /*! \return The number of bytes read: fewer than size only at the end of the stream. */
  virtual size_t Read(void* ptr, size_t size) = 0;
  /*! \return The number of bytes written. */
  virtual size_t Write(const void* ptr, size_t size) = 0;

  template <typename T>
  void Write(const T& value) {
    Serializer<T>::Write(this, value);
  }

  template <typename T>
  bool Read(T* out) {
    return Serializer<T>::Read(this, out);
  }

  template <typename T>
  void WriteArray(const T* values, size_t count) {
    for (size_t i = 0; i < count; ++i) Write(values[i]);
  }

  template <typename T>
  bool ReadArray(T* out, size_t count) {
    for (size_t i = 0; i < count; ++i) {
      if (!Read(out + i)) return false;
    }
    return true;
  }
};

}  // namespace support
}  // namespace tvm

#endif  // TVM_SUPPORT_IO_H_
