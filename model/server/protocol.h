// model/server/protocol.h — the OpenAI HTTP API's requests and responses as the server speaks them,
// without any HTTP: a request body in, a validated request out (or an ApiError for a 4xx answer), and
// the JSON objects of the answers. Kept apart from the sockets so the fuzzer can reach every branch
// (tests/fuzz/fuzz_request.cpp).
//
//   POST /v1/chat/completions  messages: an optional system message first, then user and assistant
//       turns alternating, ending with a user turn. Content is a string or a list of parts
//       {"type":"text","text":...} and {"type":"image_url","image_url":{"url":...}} (at most one image
//       per user turn, as the conversation template has it); the url is a data: URI (base64 of any
//       format the engine decodes) or, when the server allows remote images, http(s).
//   POST /v1/completions       prompt: one string, used as is (no template; no images).
// Shared fields: max_tokens / max_completion_tokens, temperature (default 1, as OpenAI), top_p, top_k
// (an extension, as llama.cpp's), seed, stop (a string or up to 4), stream, stream_options.include_usage.
// Fields that would change the answer and are not implemented (n > 1, logprobs, tools, penalties,
// a response_format other than text) are refused by name rather than ignored; other fields are ignored.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/chat.h"

namespace tl::server {

// An answer other than 200, as OpenAI writes it: {"error": {"message", "type", "param", "code"}}.
class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string type, const std::string& message, std::string param = "")
      : std::runtime_error(message), status(status), type(std::move(type)), param(std::move(param)) {}
  int status;
  std::string type;   // invalid_request_error, authentication_error, rate_limit_error, server_error, ...
  std::string param;  // the field at fault, when there is one
};
// 400 invalid_request_error naming `param`.
[[noreturn]] void bad_request(const std::string& param, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
std::string error_body(const ApiError& e);

struct RequestLimits {
  bool allow_remote_images = false;
  size_t max_stop_strings = 4;
  size_t max_stop_bytes = 256;
};

struct ImageInput {
  std::string param;  // where it came from: "messages[1].content[0].image_url"
  std::string bytes;  // a data: URI's decoded bytes, or empty ...
  std::string url;    // ... and the http(s) address to fetch (only with allow_remote_images)
};

struct CompletionRequest {
  bool chat = true;                  // /v1/chat/completions; false: /v1/completions
  std::string model;
  std::string system = kSystemPrompt;
  std::vector<ChatTurn> turns;       // chat: the last one unanswered
  std::vector<ImageInput> images;    // chat: one per turn with image = true, in order
  std::string prompt;                // completions
  int64_t max_tokens = -1;           // -1: until EOS or the end of the context
  float temperature = 1.0f, top_p = 1.0f;
  int top_k = 0;
  std::optional<uint64_t> seed;
  std::vector<std::string> stop;
  bool stream = false, include_usage = false;
};

// Parses and validates a request body; throws ApiError (400) naming the field at fault.
CompletionRequest parse_request(std::string_view body, bool chat, const RequestLimits& limits = {});

// Standard base64 (RFC 4648 §4): decoding takes padding as optional and returns nullopt for anything
// else; encoding pads (clients build data: URIs with it: bench_server, the tests).
std::optional<std::string> base64_decode(std::string_view text);
std::string base64_encode(std::string_view bytes);

// ---- answers -------------------------------------------------------------------------------------------
struct Usage {
  int64_t prompt_tokens = 0, completion_tokens = 0;
};
// The whole answer (stream = false).
std::string completion_body(const CompletionRequest& r, const std::string& id, int64_t created,
                            const std::string& text, const std::string& finish_reason, const Usage& usage);
// One server-sent event's JSON: a piece of text, or (finish_reason not empty) the last chunk;
// first = true for a chat stream's opening chunk (the assistant role).
std::string stream_chunk(const CompletionRequest& r, const std::string& id, int64_t created, const std::string& text,
                         const std::string& finish_reason, bool first);
// The usage chunk that ends a stream with stream_options.include_usage (empty choices).
std::string usage_chunk(const CompletionRequest& r, const std::string& id, int64_t created, const Usage& usage);
std::string models_body(const std::string& model_id, int64_t created);

}  // namespace tl::server
