// The HTTP side of `lmm explore`, built as a module of its own (lmm-explore-server.so) that lmm
// opens only for that command (cli/cmd_explore.cpp). Debian's libcpp-httplib is linked with
// OpenSSL, zlib and brotli: linked into lmm, loading them took about 10 ms of every start of every
// command (twice with the relaunch of cli/main.cpp), 4% of InstEval's whole `lmm fit --json`.
// The module needs nothing of lmm's: the page and the API's answers come through these hooks.
#pragma once
#include <cstddef>
#include <string>

namespace lmm::cli {

struct ExploreReply {
  int status = 200;
  std::string body;  // JSON
};

struct ExploreHooks {
  const char* page = nullptr;  // GET /: the explorer's page (HTML)
  std::size_t page_size = 0;
  std::size_t max_upload = 0;  // the largest request body taken
  // POST /api/<name> for name simulate, fit or report: the answer to the request body.
  ExploreReply (*api)(const std::string& name, const std::string& body) = nullptr;
  // Once the port is bound, before requests are served.
  void (*listening)(int port) = nullptr;
};

}  // namespace lmm::cli

/// Serves the explorer on 127.0.0.1:port (0: any free port) until SIGINT or SIGTERM; returns the
/// port it served on, or -1 where it could not listen there.
extern "C" int lmm_explore_serve(const lmm::cli::ExploreHooks* hooks, int port);
using LmmExploreServe = int (*)(const lmm::cli::ExploreHooks*, int);
