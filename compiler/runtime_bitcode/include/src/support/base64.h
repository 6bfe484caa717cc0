/*!
 * \file src/support/base64.h
 * \brief websd's own stand-in for a TVM header that the apache-tvm wheel includes but does not ship.
 *
 * A tensor saved inside JSON is base64 text. These streams buffer the whole payload and use
 * tvm-ffi's codec: tensors in JSON are small, and the browser never takes this path for weights.
 */
#ifndef TVM_SUPPORT_BASE64_H_
#define TVM_SUPPORT_BASE64_H_

#include <tvm/ffi/error.h>
#include <tvm/ffi/extra/base64.h>
#include <tvm/support/io.h>

#include <algorithm>
#include <cstring>
#include <string>

namespace tvm {
namespace support {

/*! \brief Collects bytes; Finish() writes them as base64 text to the sink. */
class Base64OutStream : public Stream {
 public:
  using Stream::Read;
  using Stream::Write;

  explicit Base64OutStream(Stream* sink) : sink_(sink) {}

  size_t Write(const void* ptr, size_t size) final {
    plain_.append(static_cast<const char*>(ptr), size);
    return size;
  }

  size_t Read(void*, size_t) final { TVM_FFI_THROW(InternalError) << "Base64OutStream is write-only"; }

  void Finish() {
    ffi::String text = ffi::Base64Encode(TVMFFIByteArray{plain_.data(), plain_.size()});
    sink_->Write(text.data(), text.size());
    plain_.clear();
  }

 private:
  Stream* sink_;
  std::string plain_;
};

/*! \brief Reads base64 text from the source; InitPosition() decodes it before the first Read. */
class Base64InStream : public Stream {
 public:
  using Stream::Read;
  using Stream::Write;

  explicit Base64InStream(Stream* source) : source_(source) {}

  void InitPosition() {
    std::string text;
    char chunk[4096];
    while (size_t count = source_->Read(chunk, sizeof(chunk))) text.append(chunk, count);
    plain_ = ffi::Base64Decode(TVMFFIByteArray{text.data(), text.size()});
    pos_ = 0;
  }

  size_t Read(void* ptr, size_t size) final {
    size_t count = std::min(size, plain_.size() - pos_);
    std::memcpy(ptr, plain_.data() + pos_, count);
    pos_ += count;
    return count;
  }

  size_t Write(const void*, size_t) final {
    TVM_FFI_THROW(InternalError) << "Base64InStream is read-only";
  }

 private:
  Stream* source_;
  std::string plain_;
  size_t pos_ = 0;
};

}  // namespace support
}  // namespace tvm

#endif  // TVM_SUPPORT_BASE64_H_
