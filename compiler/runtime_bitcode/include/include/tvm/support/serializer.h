/*!
 * \file tvm/support/serializer.h
 * \brief websd's own stand-in for a TVM header that the apache-tvm wheel includes but does not ship.
 *
 * The bytes must match what the Python side of TVM writes when it exports a model library
 * (VM executable, constants, WebGPU function table): plain values as their little-endian bytes,
 * strings and sequences as a uint64 length followed by the items, maps as a uint64 count
 * followed by key/value pairs.
 */
#ifndef TVM_SUPPORT_SERIALIZER_H_
#define TVM_SUPPORT_SERIALIZER_H_

#include <dlpack/dlpack.h>
#include <tvm/ffi/container/array.h>
#include <tvm/ffi/container/map.h>
#include <tvm/ffi/endian.h>
#include <tvm/ffi/string.h>
#include <tvm/support/io.h>

#include <cstdint>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

namespace tvm {
namespace support {

static_assert(TVM_FFI_IO_NO_ENDIAN_SWAP,
              "the web runtime stores plain values as their bytes: a little-endian target is "
              "assumed, as wasm32 and every machine that writes model libraries are");

/*! \brief Values stored as their own bytes. */
template <typename T>
inline constexpr bool kIsPlain = std::is_arithmetic_v<T> || std::is_enum_v<T> ||
                                 std::is_same_v<T, DLDataType> || std::is_same_v<T, DLDevice>;

template <typename T>
struct Serializer<T, std::enable_if_t<kIsPlain<T>>> {
  static constexpr bool enabled = true;
  static void Write(Stream* strm, const T& value) { strm->Write(&value, sizeof(T)); }
  static bool Read(Stream* strm, T* out) { return strm->Read(out, sizeof(T)) == sizeof(T); }
};

/*! \brief Length-prefixed characters, shared by std::string and ffi::String. */
inline void WriteChars(Stream* strm, const char* data, size_t size) {
  strm->Write(static_cast<uint64_t>(size));
  strm->Write(data, size);
}

inline bool ReadChars(Stream* strm, std::string* out) {
  uint64_t size;
  if (!strm->Read(&size)) return false;
  out->resize(size);
  return strm->Read(out->data(), size) == size;
}

template <>
struct Serializer<std::string> {
  static constexpr bool enabled = true;
  static void Write(Stream* strm, const std::string& value) {
    WriteChars(strm, value.data(), value.size());
  }
  static bool Read(Stream* strm, std::string* out) { return ReadChars(strm, out); }
};

template <>
struct Serializer<ffi::String> {
  static constexpr bool enabled = true;
  static void Write(Stream* strm, const ffi::String& value) {
    WriteChars(strm, value.data(), value.size());
  }
  static bool Read(Stream* strm, ffi::String* out) {
    std::string chars;
    if (!ReadChars(strm, &chars)) return false;
    *out = ffi::String(std::move(chars));
    return true;
  }
};

template <typename T>
struct Serializer<std::vector<T>> {
  static constexpr bool enabled = true;
  static void Write(Stream* strm, const std::vector<T>& values) {
    strm->Write(static_cast<uint64_t>(values.size()));
    if constexpr (kIsPlain<T>) {
      strm->Write(values.data(), values.size() * sizeof(T));
    } else {
      strm->WriteArray(values.data(), values.size());
    }
  }
  static bool Read(Stream* strm, std::vector<T>* out) {
    uint64_t size;
    if (!strm->Read(&size)) return false;
    out->resize(size);
    if constexpr (kIsPlain<T>) {
      return strm->Read(out->data(), size * sizeof(T)) == size * sizeof(T);
    } else {
      return strm->ReadArray(out->data(), size);
    }
  }
};

template <typename T>
struct Serializer<ffi::Array<T>> {
  static constexpr bool enabled = true;
  static void Write(Stream* strm, const ffi::Array<T>& values) {
    strm->Write(static_cast<uint64_t>(values.size()));
    for (const T& value : values) strm->Write(value);
  }
  static bool Read(Stream* strm, ffi::Array<T>* out) {
    uint64_t size;
    if (!strm->Read(&size)) return false;
    ffi::Array<T> values;
    values.reserve(size);
    for (uint64_t i = 0; i < size; ++i) {
      T value;
      if (!strm->Read(&value)) return false;
      values.push_back(std::move(value));
    }
    *out = std::move(values);
    return true;
  }
};

/*! \brief Count-prefixed key/value pairs, shared by std::unordered_map and ffi::Map. */
template <typename K, typename V, typename MapT>
inline void WritePairs(Stream* strm, const MapT& map) {
  strm->Write(static_cast<uint64_t>(map.size()));
  for (const auto& [key, value] : map) {
    strm->Write<K>(key);
    strm->Write<V>(value);
  }
}

template <typename K, typename V, typename Insert>
inline bool ReadPairs(Stream* strm, Insert insert) {
  uint64_t size;
  if (!strm->Read(&size)) return false;
  for (uint64_t i = 0; i < size; ++i) {
    K key;
    V value;
    if (!strm->Read(&key) || !strm->Read(&value)) return false;
    insert(std::move(key), std::move(value));
  }
  return true;
}

template <typename K, typename V>
struct Serializer<std::unordered_map<K, V>> {
  static constexpr bool enabled = true;
  static void Write(Stream* strm, const std::unordered_map<K, V>& map) {
    WritePairs<K, V>(strm, map);
  }
  static bool Read(Stream* strm, std::unordered_map<K, V>* out) {
    out->clear();
    return ReadPairs<K, V>(strm, [out](K key, V value) { (*out)[std::move(key)] = std::move(value); });
  }
};

template <typename K, typename V>
struct Serializer<ffi::Map<K, V>> {
  static constexpr bool enabled = true;
  static void Write(Stream* strm, const ffi::Map<K, V>& map) { WritePairs<K, V>(strm, map); }
  static bool Read(Stream* strm, ffi::Map<K, V>* out) {
    ffi::Map<K, V> map;
    if (!ReadPairs<K, V>(strm, [&map](K key, V value) { map.Set(key, value); })) return false;
    *out = std::move(map);
    return true;
  }
};

}  // namespace support
}  // namespace tvm

#endif  // TVM_SUPPORT_SERIALIZER_H_
