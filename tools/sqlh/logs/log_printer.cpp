// SPDX-License-Identifier: BSL-1.0
#include "logs/log_printer.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <array>
#include <string_view>

namespace sqlh::logs {
namespace {

namespace sh = sqlite_hybrid;

// Wider logger names overflow their column rather than push every line right.
constexpr std::size_t max_logger_width = 32;
// "critical", the longest level name.
constexpr std::size_t level_width = 8;

namespace sgr { // terminal colours (SGR escape sequences)
constexpr std::string_view reset = "\x1b[0m";
constexpr std::string_view dim = "\x1b[2m";
constexpr std::string_view bold = "\x1b[1m";
constexpr std::array<std::string_view, 6> levels{
    "\x1b[2m",    // trace
    "\x1b[36m",   // debug: cyan
    "\x1b[32m",   // info: green
    "\x1b[33m",   // warning: yellow
    "\x1b[31m",   // error: red
    "\x1b[1;31m", // critical: bold red
};
} // namespace sgr

// Characters on screen, counting a UTF-8 sequence once.
std::size_t display_width(std::string_view s) {
    return static_cast<std::size_t>(
        std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xc0) != 0x80; }));
}

// Control characters (escape sequences above all) stored in an entry must not drive the
// terminal, nor reach a pipe: they are shown as \xNN. A message's line breaks are kept, each
// continuation indented to the message column.
void append_printable(std::string& out, std::string_view s, std::size_t indent = 0) {
    static constexpr char hex[] = "0123456789abcdef";
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (c == '\n' && indent > 0) {
            out += '\n';
            out.append(indent, ' ');
        } else if ((c < 0x20 && c != '\t') || c == 0x7f) {
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 0xf];
        } else {
            out += ch;
        }
    }
}

void append_padded(std::string& out, std::string_view text, std::size_t width) {
    append_printable(out, text);
    const auto shown = display_width(text);
    if (shown < width)
        out.append(width - shown, ' ');
}

class styled {
public:
    styled(std::string& out, bool color, std::string_view style) : out_(out), on_(color) {
        if (on_)
            out_ += style;
    }
    ~styled() {
        if (on_)
            out_ += sgr::reset;
    }
    styled(const styled&) = delete;
    styled& operator=(const styled&) = delete;

private:
    std::string& out_;
    bool on_;
};

std::size_t level_index(sh::log_level level) {
    return std::min<std::size_t>(static_cast<std::size_t>(level), sgr::levels.size() - 1);
}

// The stored `extra` when it is a JSON object on one line; re-serialized when it spans lines;
// kept as text under "unparsed" when it is not an object at all.
std::string extra_json(const std::string& extra) {
    if (extra.empty())
        return "{}";
    boost::json::error_code ec;
    const auto value = boost::json::parse(extra, ec);
    if (ec || !value.is_object())
        return "{\"unparsed\":" + sh::encode_log_json_string(extra) + "}";
    if (extra.find_first_of("\r\n") != std::string::npos)
        return boost::json::serialize(value);
    return extra;
}

} // namespace

void log_printer::print(const std::vector<sh::log_entry>& entries, std::string& out) {
    if (format_ == output_format::json) {
        for (const auto& e : entries)
            out.append(log_entry_json(e)).append("\n");
        return;
    }
    for (const auto& e : entries)
        logger_width_ =
            std::max(logger_width_, std::min(display_width(e.logger), max_logger_width));
    for (const auto& e : entries)
        print_human(e, out);
}

void log_printer::print_human(const sh::log_entry& e, std::string& out) const {
    const std::string time = sh::format_log_time(e.time);
    {
        styled s(out, color_, sgr::dim);
        out += time;
    }
    out += ' ';
    {
        styled s(out, color_, sgr::levels[level_index(e.level)]);
        append_padded(out, sh::log_level_name(e.level), level_width);
    }
    out += ' ';
    {
        styled s(out, color_, sgr::bold);
        append_padded(out, e.logger, logger_width_);
    }
    out += ' ';
    const std::size_t message_column =
        time.size() + 1 + level_width + 1 + std::max(logger_width_, display_width(e.logger)) + 1;
    append_printable(out, e.message, message_column);
    if (!e.extra.empty()) {
        out += ' ';
        styled s(out, color_, sgr::dim);
        append_printable(out, e.extra);
    }
    if (!e.source.empty()) {
        out += ' ';
        styled s(out, color_, sgr::dim);
        out += '(';
        append_printable(out, e.source);
        out += ')';
    }
    out += '\n';
}

std::string log_entry_json(const sh::log_entry& e) {
    std::string out = "{\"id\":" + std::to_string(e.id);
    out += ",\"time\":" + sh::encode_log_json_string(sh::format_log_time(e.time));
    out += ",\"level\":" + sh::encode_log_json_string(sh::log_level_name(e.level));
    out += ",\"logger\":" + sh::encode_log_json_string(e.logger);
    out += ",\"message\":" + sh::encode_log_json_string(e.message);
    out += ",\"extra\":" + extra_json(e.extra);
    out += ",\"thread\":" + (e.thread == 0 ? std::string("null") : std::to_string(e.thread));
    if (!e.source.empty())
        out += ",\"source\":" + sh::encode_log_json_string(e.source);
    out += '}';
    return out;
}

} // namespace sqlh::logs
