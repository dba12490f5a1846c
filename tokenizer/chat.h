// tokenizer/chat.h — TinyLLaVA's prompt: the chat template of model.chat() and tokenizer_image_token.
//
// chat_prompt() builds the conv_phi_v0 string (SeparatorStyle.TWO: sep " ", sep2 "<|endoftext|>";
// MODEL_SPEC §5.1 for one turn), as the original's Conversation.get_prompt() writes it:
//   "<system> USER: <image>\n<question> ASSISTANT: <answer><|endoftext|>USER: <question> ASSISTANT:"
// Each user text is verbatim (not stripped), a turn with an image starts "<image>\n" (without one it
// is left out: TinyLLaVA_Factory's rule for text-only turns), an answered turn adds
// "ASSISTANT: " + answer + "<|endoftext|>" (an empty answer is falsy there: just "ASSISTANT:"), and
// the prompt ends "ASSISTANT:" with no space. tests/fixtures/chat/multiturn.json holds the original's
// strings and ids for 1-3 turns (tools/make_chat_fixtures.py).
//
// prompt_ids() is tokenizer_image_token (MODEL_SPEC §7.3): the prompt is split on the literal
// "<image>", each chunk encoded on its own (so each gets its own dummy-prefix "▁"), one BOS at the
// start, and kImageToken (-200) between chunks — later replaced by the image rows.
// Strings such as "<s>" or "</s>" typed by the user are encoded as plain text (sentencepiece
// semantics), not as control tokens.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace tl {

constexpr int kImageToken = -200;  // IMAGE_TOKEN_INDEX
constexpr char kImageMarker[] = "<image>";
extern const char kSystemPrompt[];

struct ChatTurn {
  std::string user;
  bool image = false;                 // an image goes with this question
  std::optional<std::string> answer;  // the assistant's answer; none for the turn being asked
};

std::string chat_prompt(std::string_view system, const std::vector<ChatTurn>& turns);
// The same prompt cut at the images' places: text chunks, one more than the turns with an image. Text
// that itself contains "<image>" (an answer the model wrote) stays text in a chunk.
std::vector<std::string> chat_prompt_chunks(std::string_view system, const std::vector<ChatTurn>& turns);
// One question with the default system prompt.
std::string chat_prompt(std::string_view question, bool with_image);
std::vector<int> prompt_ids(const Tokenizer& tok, std::string_view prompt);
// tokenizer_image_token over chunks already cut at the images: BOS, chunk 0, kImageToken, chunk 1, ...
std::vector<int> prompt_ids(const Tokenizer& tok, const std::vector<std::string>& chunks);

}  // namespace tl
