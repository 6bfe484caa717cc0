/*!
 * \file src/support/utils.h
 * \brief websd's own stand-in for a TVM header that the apache-tvm wheel includes but does not ship.
 *
 * Of the runtime sources in the web runtime, only vm/tensor_cache_support.cc includes it, and
 * it calls nothing from it: the file only has to exist.
 */
#ifndef TVM_SUPPORT_UTILS_H_
#define TVM_SUPPORT_UTILS_H_
#endif  // TVM_SUPPORT_UTILS_H_
