// model/server/protocol.cpp — OpenAI requests in, answers out (contract in protocol.h).
#include "model/server/protocol.h"

#include <algorithm>
#include <cmath>
#include <cstdarg>

#include "tensor/error.h"
#include "weights/json.h"

namespace tl::server {

namespace {

using json::Value;

const json::Limits kBodyLimits = {64u << 20, 32};  // the body size is capped by the server first

const char* kind(const Value& v) { return json::type_name(v.type()); }

const Value* field(const Value& obj, const char* key) {
  const Value* v = obj.find(key);
  return v && !v->is_null() ? v : nullptr;
}

std::string string_field(const Value& v, const std::string& param) {
  if (!v.is_string()) bad_request(param, "%s: expected a string, got %s", param.c_str(), kind(v));
  return v.as_string();
}

double number_field(const Value& v, const std::string& param, double lo, double hi) {
  if (!v.is_number()) bad_request(param, "%s: expected a number, got %s", param.c_str(), kind(v));
  const double d = v.as_number();
  if (!(d >= lo && d <= hi)) bad_request(param, "%s: %g is out of range (expected %g to %g)", param.c_str(), d, lo, hi);
  return d;
}

int64_t integer_field(const Value& v, const std::string& param, int64_t lo, int64_t hi) {
  if (!v.is_integer()) bad_request(param, "%s: expected an integer, got %s", param.c_str(), v.is_number() ? "a fraction" : kind(v));
  const int64_t i = v.as_int();
  if (i < lo || i > hi)
    bad_request(param, "%s: %lld is out of range (expected %lld to %lld)", param.c_str(), static_cast<long long>(i),
                static_cast<long long>(lo), static_cast<long long>(hi));
  return i;
}

bool bool_field(const Value& v, const std::string& param) {
  if (!v.is_bool()) bad_request(param, "%s: expected true or false, got %s", param.c_str(), kind(v));
  return v.as_bool();
}

// Fields that would change the answer and are not implemented: refused by name, never ignored.
void refuse_unsupported(const Value& body) {
  if (const Value* n = field(body, "n"); n && !(n->is_integer() && n->as_int() == 1))
    bad_request("n", "n: only one choice per request is supported (n = 1)");
  for (const char* key : {"tools", "functions", "tool_choice", "function_call"})
    if (field(body, key)) bad_request(key, "%s: tool calls are not supported by this model", key);
  if (const Value* l = field(body, "logprobs"); l && !(l->is_bool() && !l->as_bool()))
    bad_request("logprobs", "logprobs: not supported");
  for (const char* key : {"presence_penalty", "frequency_penalty"})
    if (const Value* p = field(body, key); p && !(p->is_number() && p->as_number() == 0))
      bad_request(key, "%s: not supported (expected 0 or absent)", key);
  if (const Value* f = field(body, "response_format")) {
    const Value* type = f->is_object() ? f->find("type") : nullptr;
    if (!type || !type->is_string() || type->as_string() != "text")
      bad_request("response_format", "response_format: only {\"type\": \"text\"} is supported");
  }
}

void parse_sampling(const Value& body, CompletionRequest& r, const RequestLimits& limits) {
  for (const char* key : {"max_completion_tokens", "max_tokens"})
    if (const Value* v = field(body, key)) r.max_tokens = integer_field(*v, key, 0, int64_t{1} << 31);
  if (const Value* v = field(body, "temperature")) r.temperature = static_cast<float>(number_field(*v, "temperature", 0, 2));
  if (const Value* v = field(body, "top_p")) r.top_p = static_cast<float>(number_field(*v, "top_p", 0, 1));
  if (const Value* v = field(body, "top_k")) r.top_k = static_cast<int>(integer_field(*v, "top_k", 0, 1 << 20));
  if (const Value* v = field(body, "seed"))
    r.seed = static_cast<uint64_t>(integer_field(*v, "seed", INT64_MIN, INT64_MAX));
  if (const Value* v = field(body, "stop")) {
    if (v->is_string()) {
      r.stop.push_back(v->as_string());
    } else if (v->is_array()) {
      if (v->items().size() > limits.max_stop_strings)
        bad_request("stop", "stop: %zu strings (expected at most %zu)", v->items().size(), limits.max_stop_strings);
      for (size_t i = 0; i < v->items().size(); ++i) r.stop.push_back(string_field(v->items()[i], strfmt("stop[%zu]", i)));
    } else {
      bad_request("stop", "stop: expected a string or a list of strings, got %s", kind(*v));
    }
    for (const std::string& s : r.stop)
      if (s.empty() || s.size() > limits.max_stop_bytes)
        bad_request("stop", "stop: each string must have 1 to %zu bytes", limits.max_stop_bytes);
  }
  if (const Value* v = field(body, "stream")) r.stream = bool_field(*v, "stream");
  if (const Value* o = field(body, "stream_options")) {
    if (!o->is_object()) bad_request("stream_options", "stream_options: expected an object, got %s", kind(*o));
    if (const Value* u = field(*o, "include_usage")) r.include_usage = bool_field(*u, "stream_options.include_usage");
  }
}

ImageInput parse_image_url(const Value& part, const std::string& param, const RequestLimits& limits) {
  const Value* iu = field(part, "image_url");
  if (!iu) bad_request(param, "%s: an image_url part without image_url", param.c_str());
  const std::string p = param + ".image_url";
  const Value* url = iu->is_object() ? field(*iu, "url") : iu;  // {"url": ...} or the string itself
  if (!url) bad_request(p, "%s: expected {\"url\": ...}", p.c_str());
  const std::string u = string_field(*url, p + ".url");
  ImageInput in;
  in.param = p;
  if (u.rfind("data:", 0) == 0) {
    const size_t comma = u.find(',');
    if (comma == std::string::npos || comma < 12 || u.compare(comma - 7, 7, ";base64") != 0)
      bad_request(p, "%s: expected a data URI with base64 content (data:image/...;base64,...)", p.c_str());
    std::optional<std::string> bytes = base64_decode(std::string_view(u).substr(comma + 1));
    if (!bytes) bad_request(p, "%s: the data URI's content is not valid base64", p.c_str());
    if (bytes->empty()) bad_request(p, "%s: the data URI is empty", p.c_str());
    in.bytes = std::move(*bytes);
  } else if (u.rfind("http://", 0) == 0 || u.rfind("https://", 0) == 0) {
    if (!limits.allow_remote_images)
      bad_request(p, "%s: remote images are off on this server (send a data: URI, or start it with "
                     "--allow-remote-images)", p.c_str());
    in.url = u;
  } else {
    bad_request(p, "%s: expected a data: URI or an http(s) URL", p.c_str());
  }
  return in;
}

// A message's content: its text, and the image it carries (user turns only; at most one).
std::string parse_content(const Value& content, const std::string& param, bool images_allowed,
                          std::vector<ImageInput>& images, bool* has_image, const RequestLimits& limits) {
  *has_image = false;
  if (content.is_string()) return content.as_string();
  if (!content.is_array()) bad_request(param, "%s: expected a string or a list of parts, got %s", param.c_str(), kind(content));
  std::string text;
  for (size_t i = 0; i < content.items().size(); ++i) {
    const Value& part = content.items()[i];
    const std::string p = strfmt("%s[%zu]", param.c_str(), i);
    if (!part.is_object()) bad_request(p, "%s: expected an object, got %s", p.c_str(), kind(part));
    const Value* type = field(part, "type");
    const std::string t = type ? string_field(*type, p + ".type") : "";
    if (t == "text") {
      const Value* tv = field(part, "text");
      if (!tv) bad_request(p, "%s: a text part without text", p.c_str());
      if (!text.empty()) text += "\n";
      text += string_field(*tv, p + ".text");
    } else if (t == "image_url") {
      if (!images_allowed) bad_request(p, "%s: only user messages may carry images", p.c_str());
      if (*has_image) bad_request(p, "%s: at most one image per user message (the conversation template has one)", p.c_str());
      images.push_back(parse_image_url(part, p, limits));
      *has_image = true;
    } else {
      bad_request(p, "%s: unknown part type \"%s\" (expected text or image_url)", p.c_str(), t.c_str());
    }
  }
  return text;
}

void parse_messages(const Value& body, CompletionRequest& r, const RequestLimits& limits) {
  const Value* messages = field(body, "messages");
  if (!messages) bad_request("messages", "messages: required");
  if (!messages->is_array() || messages->items().empty())
    bad_request("messages", "messages: expected a non-empty list of messages");
  const std::vector<Value>& m = messages->items();
  for (size_t i = 0; i < m.size(); ++i) {
    const std::string p = strfmt("messages[%zu]", i);
    if (!m[i].is_object()) bad_request(p, "%s: expected an object, got %s", p.c_str(), kind(m[i]));
    const Value* role_v = field(m[i], "role");
    if (!role_v) bad_request(p + ".role", "%s.role: required", p.c_str());
    const std::string role = string_field(*role_v, p + ".role");
    const Value* content = field(m[i], "content");
    if (!content) bad_request(p + ".content", "%s.content: required", p.c_str());
    const bool expect_user = r.turns.empty() || r.turns.back().answer.has_value();
    bool image = false;
    if (role == "system" || role == "developer") {
      if (i != 0) bad_request(p + ".role", "%s.role: a system message may only come first", p.c_str());
      r.system = parse_content(*content, p + ".content", false, r.images, &image, limits);
    } else if (role == "user") {
      if (!expect_user) bad_request(p + ".role", "%s.role: expected \"assistant\" (user and assistant turns alternate)", p.c_str());
      ChatTurn turn;
      turn.user = parse_content(*content, p + ".content", true, r.images, &image, limits);
      if (turn.user.find(kImageMarker) != std::string::npos)
        bad_request(p + ".content", "%s.content: contains <image> (send the image as an image_url part)", p.c_str());
      turn.image = image;
      r.turns.push_back(std::move(turn));
    } else if (role == "assistant") {
      if (expect_user) bad_request(p + ".role", "%s.role: expected \"user\" (user and assistant turns alternate)", p.c_str());
      r.turns.back().answer = parse_content(*content, p + ".content", false, r.images, &image, limits);
    } else {
      bad_request(p + ".role", "%s.role: \"%s\" (expected system, user or assistant)", p.c_str(), role.c_str());
    }
  }
  if (r.turns.empty() || r.turns.back().answer)
    bad_request("messages", "messages: the last message must be the user's");
}

void parse_prompt(const Value& body, CompletionRequest& r) {
  const Value* prompt = field(body, "prompt");
  if (!prompt) bad_request("prompt", "prompt: required");
  if (prompt->is_array()) {
    if (prompt->items().size() != 1) bad_request("prompt", "prompt: one prompt per request (a list of exactly one string)");
    prompt = &prompt->items()[0];
  }
  r.prompt = string_field(*prompt, "prompt");
  if (r.prompt.empty()) bad_request("prompt", "prompt: empty");
  if (field(body, "suffix")) bad_request("suffix", "suffix: not supported");
  if (const Value* e = field(body, "echo"); e && !(e->is_bool() && !e->as_bool())) bad_request("echo", "echo: not supported");
}

// Messages quote the request (and may be cut mid-character): invalid UTF-8 becomes U+FFFD.
std::string valid_utf8(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    const size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    bool ok = n > 0 && i + n <= s.size() && !(c == 0xc0 || c == 0xc1 || c > 0xf4);
    for (size_t k = 1; ok && k < n; ++k) ok = (static_cast<unsigned char>(s[i + k]) >> 6) == 2;
    if (ok && n == 3) {
      const unsigned char c1 = static_cast<unsigned char>(s[i + 1]);
      ok = !(c == 0xe0 && c1 < 0xa0) && !(c == 0xed && c1 >= 0xa0);  // overlong, surrogates
    }
    if (ok && n == 4) {
      const unsigned char c1 = static_cast<unsigned char>(s[i + 1]);
      ok = !(c == 0xf0 && c1 < 0x90) && !(c == 0xf4 && c1 >= 0x90);
    }
    if (ok) {
      out.append(s.substr(i, n));
      i += n;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

}  // namespace

void bad_request(const std::string& param, const char* fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  throw ApiError(400, "invalid_request_error", buf, param);
}

std::string error_body(const ApiError& e) {
  Value err = Value::object();
  err.set("message", Value::string(valid_utf8(e.what())));
  err.set("type", Value::string(e.type));
  err.set("param", e.param.empty() ? Value() : Value::string(e.param));
  err.set("code", Value());
  Value v = Value::object();
  v.set("error", std::move(err));
  return json::dump(v);
}

CompletionRequest parse_request(std::string_view body, bool chat, const RequestLimits& limits) {
  Value v;
  try {
    v = json::parse(body, "request body", kBodyLimits);
  } catch (const Error& e) {
    throw ApiError(400, "invalid_request_error", e.what());
  }
  if (!v.is_object()) bad_request("", "request body: expected a JSON object, got %s", kind(v));
  CompletionRequest r;
  r.chat = chat;
  if (const Value* m = field(v, "model")) r.model = string_field(*m, "model");
  refuse_unsupported(v);
  if (chat) {
    parse_messages(v, r, limits);
  } else {
    parse_prompt(v, r);
  }
  parse_sampling(v, r, limits);
  return r;
}

std::optional<std::string> base64_decode(std::string_view s) {
  auto sextet = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  size_t n = s.size();
  if (n % 4 == 0 && n >= 2 && s[n - 1] == '=') n -= s[n - 2] == '=' ? 2 : 1;  // padding only at the end
  if (n % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(n / 4 * 3 + 2);
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n; ++i) {
    const int v = sextet(s[i]);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return std::nullopt;  // non-canonical trailing bits
  return out;
}

std::string base64_encode(std::string_view bytes) {
  static const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    const size_t n = std::min<size_t>(3, bytes.size() - i);
    uint32_t v = 0;
    for (size_t k = 0; k < 3; ++k) v = v << 8 | (k < n ? static_cast<unsigned char>(bytes[i + k]) : 0u);
    for (size_t k = 0; k < 4; ++k) out += k <= n ? kAlphabet[(v >> (18 - 6 * k)) & 63] : '=';
  }
  return out;
}

// ---- answers -------------------------------------------------------------------------------------------

namespace {

Value usage_value(const Usage& u) {
  Value v = Value::object();
  v.set("prompt_tokens", Value::integer(u.prompt_tokens));
  v.set("completion_tokens", Value::integer(u.completion_tokens));
  v.set("total_tokens", Value::integer(u.prompt_tokens + u.completion_tokens));
  return v;
}

Value envelope(const CompletionRequest& r, const std::string& id, int64_t created, bool chunk) {
  Value v = Value::object();
  v.set("id", Value::string(id));
  v.set("object", Value::string(r.chat ? (chunk ? "chat.completion.chunk" : "chat.completion") : "text_completion"));
  v.set("created", Value::integer(created));
  v.set("model", Value::string(r.model));
  return v;
}

}  // namespace

namespace {

// The answer's one choice: `body` is the chat message or delta (ignored for completions, which carry text).
Value one_choice(const CompletionRequest& r, Value body, const char* body_key, const std::string& text,
                 const std::string& finish_reason) {
  Value choice = Value::object();
  choice.set("index", Value::integer(0));
  if (r.chat) {
    choice.set(body_key, std::move(body));
  } else {
    choice.set("text", Value::string(text));
  }
  choice.set("logprobs", Value());
  choice.set("finish_reason", finish_reason.empty() ? Value() : Value::string(finish_reason));
  return Value::array({std::move(choice)});
}

}  // namespace

std::string completion_body(const CompletionRequest& r, const std::string& id, int64_t created, const std::string& text,
                            const std::string& finish_reason, const Usage& usage) {
  Value message = Value::object();
  message.set("role", Value::string("assistant"));
  message.set("content", Value::string(text));
  Value v = envelope(r, id, created, false);
  v.set("choices", one_choice(r, std::move(message), "message", text, finish_reason));
  v.set("usage", usage_value(usage));
  return json::dump(v);
}

std::string stream_chunk(const CompletionRequest& r, const std::string& id, int64_t created, const std::string& text,
                         const std::string& finish_reason, bool first) {
  Value delta = Value::object();
  if (first) delta.set("role", Value::string("assistant"));
  if (!text.empty() || (first && finish_reason.empty())) delta.set("content", Value::string(text));
  Value v = envelope(r, id, created, true);
  v.set("choices", one_choice(r, std::move(delta), "delta", text, finish_reason));
  return json::dump(v);
}

std::string usage_chunk(const CompletionRequest& r, const std::string& id, int64_t created, const Usage& usage) {
  Value v = envelope(r, id, created, true);
  v.set("choices", Value::array());
  v.set("usage", usage_value(usage));
  return json::dump(v);
}

std::string models_body(const std::string& model_id, int64_t created) {
  Value m = Value::object();
  m.set("id", Value::string(model_id));
  m.set("object", Value::string("model"));
  m.set("created", Value::integer(created));
  m.set("owned_by", Value::string("tinyllava.cpp"));
  Value v = Value::object();
  v.set("object", Value::string("list"));
  v.set("data", Value::array({std::move(m)}));
  return json::dump(v);
}

}  // namespace tl::server
