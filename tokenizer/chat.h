// tokenizer/chat.h — TinyLLaVA's prompt: the chat template of model.chat() and tokenizer_image_token.
//
// chat_prompt() builds the single-turn conv_phi_v0 string (MODEL_SPEC §5.1):
//   "<system> USER: <image>\n<question> ASSISTANT:"
// with the question verbatim (not stripped) and no space after "ASSISTANT:". Without an image the
// "<image>\n" is left out (TinyLLaVA_Factory's template for text-only turns).
//
// prompt_ids() is tokenizer_image_token (MODEL_SPEC §7.3): the prompt is split on the literal
// "<image>", each chunk encoded on its own (so each gets its own dummy-prefix "▁"), one BOS at the
// start, and kImageToken (-200) between chunks — later replaced by the image rows.
// Strings such as "<s>" or "</s>" typed by the user are encoded as plain text (sentencepiece
// semantics), not as control tokens.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace tl {

constexpr int kImageToken = -200;  // IMAGE_TOKEN_INDEX
constexpr char kImageMarker[] = "<image>";
extern const char kSystemPrompt[];

std::string chat_prompt(std::string_view question, bool with_image);
std::vector<int> prompt_ids(const Tokenizer& tok, std::string_view prompt);

}  // namespace tl
