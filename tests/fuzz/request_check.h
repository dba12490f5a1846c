// tests/fuzz/request_check.h — what fuzz_request checks on one input, shared with test_protocol (which
// replays the committed seeds and their mutations in `make test`, so under ASan + UBSan in CI too).
#pragma once

#include <string>
#include <string_view>

#include "model/server/protocol.h"
#include "weights/json.h"

namespace tl::fuzz {

// False when the parser misbehaved: a refusal other than a 400 with a message, or an accepted request
// whose answer object does not read back as JSON.
inline bool check_request(std::string_view body, bool chat) {
  server::CompletionRequest r;
  try {
    r = server::parse_request(body, chat);
  } catch (const server::ApiError& e) {
    return e.status == 400 && e.what()[0] != '\0' && json::parse(server::error_body(e), "error").is_object();
  }
  if (chat && (r.turns.empty() || r.turns.back().answer)) return false;
  if (!chat && r.prompt.empty()) return false;
  const std::string body_out = server::completion_body(r, "id", 0, r.chat ? r.turns.back().user : r.prompt, "stop", {});
  return json::parse(body_out, "answer").is_object();
}

}  // namespace tl::fuzz
