// tokenizer/chat.cpp — conv_phi_v0 template and tokenizer_image_token (contract in chat.h).
#include "tokenizer/chat.h"

namespace tl {

const char kSystemPrompt[] =
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions.";

std::string chat_prompt(std::string_view question, bool with_image) {
  std::string s = kSystemPrompt;
  s += " USER: ";
  if (with_image) s += std::string(kImageMarker) + "\n";
  s += question;
  s += " ASSISTANT:";
  return s;
}

std::vector<int> prompt_ids(const Tokenizer& tok, std::string_view prompt) {
  std::vector<int> ids;
  if (tok.bos_id() >= 0) ids.push_back(tok.bos_id());
  const std::string_view marker(kImageMarker);
  for (size_t start = 0;;) {
    size_t at = prompt.find(marker, start);
    std::vector<int> chunk = tok.encode(prompt.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    ids.insert(ids.end(), chunk.begin(), chunk.end());
    if (at == std::string_view::npos) break;
    ids.push_back(kImageToken);
    start = at + marker.size();
  }
  return ids;
}

}  // namespace tl
