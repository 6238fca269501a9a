#include <sqlite_hybrid/database_url.hpp>

#include <algorithm>

namespace sqlite_hybrid {

database_url parse_database_url(std::string_view url) {
    if (url.starts_with("postgresql://") || url.starts_with("postgres://"))
        return {backend::postgresql, std::string(url)};
    if (url.starts_with("postgresql:"))
        return {backend::postgresql, std::string(url.substr(11))};
    if (url.starts_with("sqlite://")) // sqlite:///abs/path has an empty authority
        return {backend::sqlite, std::string(url.substr(9))};
    if (url.starts_with("sqlite:"))
        return {backend::sqlite, std::string(url.substr(7))};
    return {backend::sqlite, std::string(url)};
}

std::string redact_database_url(std::string_view url) {
    std::string out(url);
    if (parse_database_url(url).engine != backend::postgresql)
        return out;
    // URI: scheme://user:password@host
    if (const auto scheme = out.find("://"); scheme != std::string::npos) {
        const auto at = out.find('@', scheme + 3);
        const auto colon = out.find(':', scheme + 3);
        if (at != std::string::npos && colon != std::string::npos && colon < at)
            out.replace(colon + 1, at - colon - 1, "***");
    }
    // key=value settings (password = 'a b' too), and ?password=... in a URI
    for (std::size_t at = out.find("password"); at != std::string::npos;
         at = out.find("password", at + 1)) {
        std::size_t begin = at + 8;
        while (begin < out.size() && out[begin] == ' ')
            ++begin;
        if (begin >= out.size() || out[begin] != '=')
            continue;
        ++begin;
        while (begin < out.size() && out[begin] == ' ')
            ++begin;
        std::size_t end = begin;
        if (end < out.size() && out[end] == '\'') { // quoted: up to the closing quote
            for (++end; end < out.size() && out[end] != '\''; ++end)
                if (out[end] == '\\')
                    ++end;
            end = std::min(end + 1, out.size());
        } else {
            end = out.find_first_of(" &", begin);
            if (end == std::string::npos)
                end = out.size();
        }
        out.replace(begin, end - begin, "***");
    }
    return out;
}

} // namespace sqlite_hybrid
