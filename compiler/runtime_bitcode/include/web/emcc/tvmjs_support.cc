/*!
 * \file web/emcc/tvmjs_support.cc
 * \brief websd's replacement for TVM's tvmjs_support.cc: the C API the tvmjs runtime calls, no RPC.
 *
 * TVM's version also builds an RPC session for remote benchmarking, which pulls the RPC sources
 * and headers the apache-tvm wheel lacks. A deployed model library needs only the four functions
 * below; their contract is the one tvmjs's ctypes.ts declares.
 */
#define TVM_LOG_DEBUG 0
#define TVM_LOG_CUSTOMIZE 1
#define TVM_FFI_ALWAYS_LOG_BEFORE_THROW 1

#include <tvm/ffi/c_api.h>
#include <tvm/ffi/error.h>

#include <cstdint>
#include <string>

extern "C" {

/*! \brief Implemented by tvmjs (environment.ts): calls the JS function registered as self. */
extern int TVMFFIWasmSafeCall(void* self, const TVMFFIAny* args, int32_t num_args,
                              TVMFFIAny* result);
/*! \brief Implemented by tvmjs (environment.ts): releases the JS function registered as self. */
extern void TVMFFIWasmFunctionDeleter(void* self);

/*! \brief Scratch memory for JS, 8-byte aligned so any scalar can be stored in it. */
TVM_FFI_DLL void* TVMWasmAllocSpace(int size) { return new int64_t[(size + 7) / 8]; }

TVM_FFI_DLL void TVMWasmFreeSpace(void* data) { delete[] static_cast<int64_t*>(data); }

/*! \brief Wraps a JS function, known to C++ by its handle, as an ffi::Function. */
TVM_FFI_DLL int TVMFFIWasmFunctionCreate(void* resource_handle, TVMFFIObjectHandle* out) {
  return TVMFFIFunctionCreate(resource_handle, TVMFFIWasmSafeCall, TVMFFIWasmFunctionDeleter, out);
}

/*! \brief The message of the error raised last; JS reads it right after a call returns non-zero. */
TVM_FFI_DLL const char* TVMFFIWasmGetLastError() {
  static std::string message;
  message = ::tvm::ffi::detail::MoveFromSafeCallRaised().what();
  return message.c_str();
}

}  // extern "C"
