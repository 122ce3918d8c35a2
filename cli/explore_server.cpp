// lmm-explore-server.so: the HTTP server of `lmm explore` (cli/explore_server.h says why it is a
// module). The server answers only from memory: the page and the JSON API that lmm hands it.
#include "explore_server.h"

#include <httplib.h>

#include <atomic>
#include <csignal>

namespace {

httplib::Server* g_server = nullptr;
extern "C" void stop_server(int) {
  if (g_server) g_server->stop();
}

void post(httplib::Server& svr, const lmm::cli::ExploreHooks& hooks, const char* name) {
  svr.Post(std::string("/api/") + name, [&hooks, name](const httplib::Request& q, httplib::Response& r) {
    lmm::cli::ExploreReply reply = hooks.api(name, q.body);
    r.status = reply.status;
    r.set_content(reply.body, "application/json; charset=utf-8");
  });
}

}  // namespace

extern "C" __attribute__((visibility("default"))) int lmm_explore_serve(const lmm::cli::ExploreHooks* hooks,
                                                                       int port) {
  httplib::Server svr;
  svr.set_payload_max_length(hooks->max_upload);
  std::atomic<int> bound_port{0};
  // DNS rebinding: a page from elsewhere whose name resolves to 127.0.0.1 sends its own Host.
  svr.set_pre_routing_handler([&bound_port](const httplib::Request& req, httplib::Response& res) {
    const std::string host = req.get_header_value("Host");
    const std::string p = std::to_string(bound_port.load());
    if (host != "127.0.0.1:" + p && host != "localhost:" + p) {
      res.status = 403;
      res.set_content("lmm explore answers only to http://127.0.0.1:" + p + "/\n", "text/plain");
      return httplib::Server::HandlerResponse::Handled;
    }
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_header("Cache-Control", "no-store");
    return httplib::Server::HandlerResponse::Unhandled;
  });
  svr.Get("/", [hooks](const httplib::Request&, httplib::Response& res) {
    res.set_content(hooks->page, hooks->page_size, "text/html; charset=utf-8");
  });
  for (const char* name : {"simulate", "fit", "report"}) post(svr, *hooks, name);
  svr.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.status == 404) res.set_content("not found: lmm explore serves only / and /api/*\n", "text/plain");
  });

  const int bound = port == 0 ? svr.bind_to_any_port("127.0.0.1") : (svr.bind_to_port("127.0.0.1", port) ? port : -1);
  if (bound <= 0) return -1;
  bound_port = bound;
  g_server = &svr;
  std::signal(SIGINT, stop_server);
  std::signal(SIGTERM, stop_server);
  if (hooks->listening) hooks->listening(bound);
  svr.listen_after_bind();  // returns when stop() is called (Ctrl-C)
  g_server = nullptr;
  return bound;
}
