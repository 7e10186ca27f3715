// Quoting for POSIX sh: a suggested command built from container-controlled argv must be
// safe to paste into a shell.
#pragma once

#include <string>
#include <string_view>

namespace initwatch::util {

// The argument unchanged when it holds only characters no shell treats specially
// (letters, digits and `_@%+=:,./-`), else in single quotes with each ' written as '\''.
// Nothing is special inside single quotes, so `;`, `$( )`, backquotes, globs, newlines and
// any bytes (invalid UTF-8 included) stay one literal argument. The empty argument is ''.
std::string shell_quote(std::string_view arg);

}  // namespace initwatch::util
