// The small encodings the replay pages are built from: unsigned LEB128 varints, base64,
// JSON string literals that are safe inside an HTML <script> element, and HTML text.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace raftkv::sim::replay {

void PutVarint(std::string* out, uint64_t v);
std::string Base64(std::string_view bytes);
// A JSON string literal (quotes included); '<', '>' and '&' are escaped as \u00XX so the
// text can never close the <script> element it is embedded in.
std::string JsonString(std::string_view s);
// Text for an HTML element or attribute: < > & and " escaped.
std::string HtmlText(std::string_view s);

}  // namespace raftkv::sim::replay
