// tokenizer/chat.cpp — conv_phi_v0 template and tokenizer_image_token (contract in chat.h).
#include "tokenizer/chat.h"

namespace tl {

const char kSystemPrompt[] =
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions.";

std::vector<std::string> chat_prompt_chunks(std::string_view system, const std::vector<ChatTurn>& turns) {
  std::vector<std::string> chunks(1, std::string(system) + " ");
  for (const ChatTurn& t : turns) {
    std::string* s = &chunks.back();
    *s += "USER: ";
    if (t.image) {
      chunks.emplace_back("\n");
      s = &chunks.back();
    }
    *s += t.user;
    *s += " ";
    if (t.answer && !t.answer->empty())
      *s += "ASSISTANT: " + *t.answer + "<|endoftext|>";
    else
      *s += "ASSISTANT:";
  }
  return chunks;
}

std::string chat_prompt(std::string_view system, const std::vector<ChatTurn>& turns) {
  std::string s(system);
  s += " ";
  for (const ChatTurn& t : turns) {
    s += "USER: ";
    if (t.image) s += std::string(kImageMarker) + "\n";
    s += t.user;
    s += " ";
    if (t.answer && !t.answer->empty())
      s += "ASSISTANT: " + *t.answer + "<|endoftext|>";
    else
      s += "ASSISTANT:";
  }
  return s;
}

std::string chat_prompt(std::string_view question, bool with_image) {
  return chat_prompt(kSystemPrompt, {ChatTurn{std::string(question), with_image, std::nullopt}});
}

std::vector<int> prompt_ids(const Tokenizer& tok, const std::vector<std::string>& chunks) {
  std::vector<int> ids;
  if (tok.bos_id() >= 0) ids.push_back(tok.bos_id());
  for (size_t i = 0; i < chunks.size(); ++i) {
    if (i > 0) ids.push_back(kImageToken);
    std::vector<int> chunk = tok.encode(chunks[i]);
    ids.insert(ids.end(), chunk.begin(), chunk.end());
  }
  return ids;
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
