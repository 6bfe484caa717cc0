/*!
 * \file src/support/bytes_io.h
 * \brief websd's own stand-in for a TVM header that the apache-tvm wheel includes but does not ship.
 *
 * Streams over bytes in memory: the runtime loads the VM executable and the WebGPU module from
 * the bytes embedded in the model library, and saves into a std::string.
 */
#ifndef TVM_SUPPORT_BYTES_IO_H_
#define TVM_SUPPORT_BYTES_IO_H_

#include <tvm/ffi/error.h>
#include <tvm/ffi/string.h>
#include <tvm/support/io.h>

#include <algorithm>
#include <cstring>
#include <string>

namespace tvm {
namespace support {

/*! \brief Reads bytes owned by the caller, who keeps them alive while the stream is used. */
class BytesInStream : public Stream {
 public:
  using Stream::Read;
  using Stream::Write;

  explicit BytesInStream(const std::string& bytes) : data_(bytes.data()), size_(bytes.size()) {}
  explicit BytesInStream(const ffi::Bytes& bytes) : data_(bytes.data()), size_(bytes.size()) {}

  size_t Read(void* ptr, size_t size) final {
    size_t count = std::min(size, size_ - pos_);
    std::memcpy(ptr, data_ + pos_, count);
    pos_ += count;
    return count;
  }

  size_t Write(const void*, size_t) final {
    TVM_FFI_THROW(InternalError) << "BytesInStream is read-only";
  }

 private:
  const char* data_;
  size_t size_;
  size_t pos_ = 0;
};

/*! \brief Appends to a std::string owned by the caller. */
class BytesOutStream : public Stream {
 public:
  using Stream::Read;
  using Stream::Write;

  explicit BytesOutStream(std::string* out) : out_(out) {}

  size_t Write(const void* ptr, size_t size) final {
    out_->append(static_cast<const char*>(ptr), size);
    return size;
  }

  size_t Read(void*, size_t) final { TVM_FFI_THROW(InternalError) << "BytesOutStream is write-only"; }

 private:
  std::string* out_;
};

}  // namespace support
}  // namespace tvm

#endif  // TVM_SUPPORT_BYTES_IO_H_
