// Kernel records (include/initwatch/events.h) to typed model events. No libbpf here.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "model/event.h"

namespace initwatch::probe {

// nullopt for a record that is too short, of another layout version or of unknown type.
std::optional<model::Event> decode_record(const void* data, size_t size);

}  // namespace initwatch::probe
