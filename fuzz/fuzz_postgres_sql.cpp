// SPDX-License-Identifier: BSL-1.0
// The SQL text the PostgreSQL backend rewrites and classifies: `?` placeholders become $n
// outside literals, quoted names, comments and dollar quotes. On arbitrary text it must not
// crash, a rewrite must be stable (rewriting its output changes nothing), every `?` it replaces
// becomes a $n, and text without `?` comes back as it was. Classifying statements (refused in a
// job, where a second one starts) must not crash either, and a second statement starts inside
// the text.
#include "fuzz_check.hpp"
#include "pg_sql.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

namespace detail = sqlite_hybrid::detail;

namespace {

std::size_t count(std::string_view s, char c) {
    std::size_t n = 0;
    for (char x : s)
        n += x == c;
    return n;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view sql(reinterpret_cast<const char*>(data), size);
    const std::string once = detail::postgres_placeholders(sql);
    check(detail::postgres_placeholders(once) == once);
    if (sql.find('?') == std::string_view::npos)
        check(once == sql);
    // Each replaced `?` (with its digits) became `$` and digits: no other character changed.
    const std::size_t replaced = count(sql, '?') - count(once, '?');
    check(count(once, '$') == count(sql, '$') + replaced);
    (void)detail::postgres_reads_only(sql);
    (void)detail::postgres_refusal(sql, size % 2 == 0);
    const std::size_t second = detail::postgres_second_statement(sql);
    check(second == std::string_view::npos || second <= sql.size());
    return 0;
}
