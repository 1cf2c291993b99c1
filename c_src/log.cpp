#include "partisan/log.hpp"

#include <cstdarg>

namespace partisan {

void Logger::log(LogLevel level, const char* fmt, ...) const {
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = std::vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    for (char& c : text)
        if (c == '\n' || c == '\r') c = ' ';
        else if (c == '\0') break;
    std::fprintf(out_, "%s %s\n", log_level_name(level), text);
    std::fflush(out_);
}

}  // namespace partisan
