// SPDX-License-Identifier: BSL-1.0
// The log database's batch BLOBs as a query reads them back: arbitrary bytes (a damaged or
// foreign file) end the reading cleanly and never crash, and whatever decodes encodes again into
// a BLOB that decodes to the same entries, with a summary (count, time range, levels, loggers)
// that matches them.
#include "fuzz_check.hpp"
#include "log_batch_codec.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace detail = sqlite_hybrid::detail;

namespace {

bool same(const detail::log_entry_view& a, const detail::log_entry_view& b) {
    return a.index == b.index && a.ts == b.ts && a.level == b.level && a.logger == b.logger &&
           a.message == b.message && a.extra == b.extra && a.source == b.source &&
           a.thread == b.thread;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view blob(reinterpret_cast<const char*>(data), size);
    detail::log_batch_reader reader(blob);
    std::vector<detail::log_entry_view> entries;
    for (detail::log_entry_view e; entries.size() < detail::max_log_batch_entries && reader.next(e);)
        entries.push_back(e);
    if (!reader.ok() || entries.empty())
        return 0;

    std::string again;
    detail::log_batch_summary summary;
    detail::encode_log_batch(entries, again, summary);
    check(summary.count == entries.size(), "the summary counts other entries");
    detail::log_batch_reader back(again);
    std::size_t n = 0;
    for (detail::log_entry_view e; back.next(e); ++n) {
        check(n < entries.size(), "more entries came back than went in");
        check(same(e, entries[n]), "an entry came back changed");
        check(e.ts >= summary.first_ts && e.ts <= summary.last_ts, "a time outside the range");
        check((summary.levels >> e.level & 1) != 0, "a level missing from the levels");
    }
    check(back.ok() && n == entries.size(), "the re-encoded batch did not read back whole");
    return 0;
}
