// SPDX-License-Identifier: BSL-1.0
// Results of synchronous calls: a value or an error_code (Boost.Outcome).
#pragma once

#include <sqlite_hybrid/error.hpp>

#include <boost/outcome/result.hpp>
#include <boost/outcome/try.hpp>

namespace sqlite_hybrid {

namespace outcome = BOOST_OUTCOME_V2_NAMESPACE;

template <class T> using result = outcome::result<T, error_code>;

// Thrown by `.value()` on a failed result and by jobs that want to fail: carries the code.
using system_error = boost::system::system_error;

} // namespace sqlite_hybrid
