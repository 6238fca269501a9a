#include <sqlite_hybrid/database_url.hpp>

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
    // key=value settings, and ?password=... in a URI
    for (std::size_t at = out.find("password="); at != std::string::npos;
         at = out.find("password=", at + 1)) {
        const auto begin = at + 9;
        auto end = out.find_first_of(" &", begin);
        if (end == std::string::npos)
            end = out.size();
        out.replace(begin, end - begin, "***");
    }
    return out;
}

} // namespace sqlite_hybrid
