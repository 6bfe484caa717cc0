// websd leaves RPC out of the web runtime: this empty file stands in for TVM's rpc_local_session.cc,
// which web/emcc/wasm_runtime.cc includes.
