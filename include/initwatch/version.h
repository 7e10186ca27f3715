#pragma once

namespace initwatch {
inline constexpr const char* kVersion = "0.1.0";
}
