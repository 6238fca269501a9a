// SPDX-License-Identifier: BSL-1.0
#include "fault_vfs.hpp"

#include <sqlite3.h>

#include <cstddef>
#include <cstring>
#include <mutex>
#include <new>
#include <stdexcept>

namespace sqlite_hybrid::test {

namespace {

// What is armed and what has been counted; shared by every connection on every thread.
struct fault_state {
    std::mutex mutex;
    fault_plan plan;
    std::uint64_t operations = 0;
    std::uint64_t faults = 0;
    std::uint64_t lock_attempts = 0;

    int check(io_kind kind, int own_code) {
        std::lock_guard lock(mutex);
        if ((plan.kinds & kind) == 0)
            return SQLITE_OK;
        const auto n = ++operations;
        if (plan.fail_at == 0 || n < plan.fail_at || (n > plan.fail_at && !plan.persistent))
            return SQLITE_OK;
        ++faults;
        return plan.error != 0 ? plan.error : own_code;
    }

    bool busy_lock() {
        std::lock_guard lock(mutex);
        if (lock_attempts >= plan.busy_write_locks)
            return false;
        ++lock_attempts;
        ++faults;
        return true;
    }
};

fault_state& state() {
    static fault_state s;
    return s;
}

sqlite3_vfs* real_vfs() {
    static sqlite3_vfs* v = sqlite3_vfs_find("unix");
    return v;
}

// Our file object, followed in the same allocation by the real VFS's own.
struct fault_file {
    sqlite3_file base; // base.pMethods: our methods, which forward to `real`
    sqlite3_file* real;
};
constexpr std::size_t real_offset = (sizeof(fault_file) + alignof(std::max_align_t) - 1) /
                                    alignof(std::max_align_t) * alignof(std::max_align_t);

sqlite3_file* real_of(sqlite3_file* f) {
    return reinterpret_cast<fault_file*>(f)->real;
}

int x_close(sqlite3_file* f) {
    auto* r = real_of(f);
    return r->pMethods ? r->pMethods->xClose(r) : SQLITE_OK;
}

int x_read(sqlite3_file* f, void* buf, int amount, sqlite3_int64 offset) {
    if (int rc = state().check(io_read, SQLITE_IOERR_READ))
        return rc;
    auto* r = real_of(f);
    return r->pMethods->xRead(r, buf, amount, offset);
}

int x_write(sqlite3_file* f, const void* buf, int amount, sqlite3_int64 offset) {
    if (int rc = state().check(io_write, SQLITE_IOERR_WRITE))
        return rc;
    auto* r = real_of(f);
    return r->pMethods->xWrite(r, buf, amount, offset);
}

int x_truncate(sqlite3_file* f, sqlite3_int64 size) {
    if (int rc = state().check(io_truncate, SQLITE_IOERR_TRUNCATE))
        return rc;
    auto* r = real_of(f);
    return r->pMethods->xTruncate(r, size);
}

int x_sync(sqlite3_file* f, int flags) {
    if (int rc = state().check(io_sync, SQLITE_IOERR_FSYNC))
        return rc;
    auto* r = real_of(f);
    return r->pMethods->xSync(r, flags);
}

int x_file_size(sqlite3_file* f, sqlite3_int64* size) {
    auto* r = real_of(f);
    return r->pMethods->xFileSize(r, size);
}

int x_lock(sqlite3_file* f, int level) {
    if (level >= SQLITE_LOCK_RESERVED && state().busy_lock())
        return SQLITE_BUSY;
    auto* r = real_of(f);
    return r->pMethods->xLock(r, level);
}

int x_unlock(sqlite3_file* f, int level) {
    auto* r = real_of(f);
    return r->pMethods->xUnlock(r, level);
}

int x_check_reserved_lock(sqlite3_file* f, int* out) {
    auto* r = real_of(f);
    return r->pMethods->xCheckReservedLock(r, out);
}

int x_file_control(sqlite3_file* f, int op, void* arg) {
    auto* r = real_of(f);
    return r->pMethods->xFileControl(r, op, arg);
}

int x_sector_size(sqlite3_file* f) {
    auto* r = real_of(f);
    return r->pMethods->xSectorSize(r);
}

int x_device_characteristics(sqlite3_file* f) {
    auto* r = real_of(f);
    return r->pMethods->xDeviceCharacteristics(r);
}

int x_shm_map(sqlite3_file* f, int page, int page_size, int extend, void volatile** out) {
    auto* r = real_of(f);
    return r->pMethods->xShmMap(r, page, page_size, extend, out);
}

int x_shm_lock(sqlite3_file* f, int offset, int n, int flags) {
    // Slot 0 is the WAL write lock: what BEGIN IMMEDIATE takes in WAL mode.
    constexpr int take_exclusive = SQLITE_SHM_LOCK | SQLITE_SHM_EXCLUSIVE;
    if (offset == 0 && (flags & take_exclusive) == take_exclusive && state().busy_lock())
        return SQLITE_BUSY;
    auto* r = real_of(f);
    return r->pMethods->xShmLock(r, offset, n, flags);
}

void x_shm_barrier(sqlite3_file* f) {
    auto* r = real_of(f);
    r->pMethods->xShmBarrier(r);
}

int x_shm_unmap(sqlite3_file* f, int delete_flag) {
    auto* r = real_of(f);
    return r->pMethods->xShmUnmap(r, delete_flag);
}

// No memory-mapped reads: every page read goes through xRead, where it can fail.
int x_fetch(sqlite3_file*, sqlite3_int64, int, void** out) {
    *out = nullptr;
    return SQLITE_OK;
}

int x_unfetch(sqlite3_file* f, sqlite3_int64 offset, void* p) {
    auto* r = real_of(f);
    return r->pMethods->xUnfetch(r, offset, p);
}

const sqlite3_io_methods fault_methods = {
    3,
    x_close,
    x_read,
    x_write,
    x_truncate,
    x_sync,
    x_file_size,
    x_lock,
    x_unlock,
    x_check_reserved_lock,
    x_file_control,
    x_sector_size,
    x_device_characteristics,
    x_shm_map,
    x_shm_lock,
    x_shm_barrier,
    x_shm_unmap,
    x_fetch,
    x_unfetch,
};

int x_open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* f, int flags, int* out_flags) {
    auto* ours = reinterpret_cast<fault_file*>(f);
    ours->real = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(f) + real_offset);
    ours->real->pMethods = nullptr;
    const int rc = real_vfs()->xOpen(real_vfs(), name, ours->real, flags, out_flags);
    // SQLite calls xClose whenever pMethods is set, even after a failed open.
    ours->base.pMethods = ours->real->pMethods ? &fault_methods : nullptr;
    return rc;
}

int x_delete(sqlite3_vfs*, const char* name, int sync_dir) {
    return real_vfs()->xDelete(real_vfs(), name, sync_dir);
}
int x_access(sqlite3_vfs*, const char* name, int flags, int* out) {
    return real_vfs()->xAccess(real_vfs(), name, flags, out);
}
int x_full_pathname(sqlite3_vfs*, const char* name, int size, char* out) {
    return real_vfs()->xFullPathname(real_vfs(), name, size, out);
}
void* x_dl_open(sqlite3_vfs*, const char* name) {
    return real_vfs()->xDlOpen(real_vfs(), name);
}
void x_dl_error(sqlite3_vfs*, int size, char* out) {
    real_vfs()->xDlError(real_vfs(), size, out);
}
void (*x_dl_sym(sqlite3_vfs*, void* handle, const char* symbol))(void) {
    return real_vfs()->xDlSym(real_vfs(), handle, symbol);
}
void x_dl_close(sqlite3_vfs*, void* handle) {
    real_vfs()->xDlClose(real_vfs(), handle);
}
int x_randomness(sqlite3_vfs*, int size, char* out) {
    return real_vfs()->xRandomness(real_vfs(), size, out);
}
int x_sleep(sqlite3_vfs*, int micros) {
    return real_vfs()->xSleep(real_vfs(), micros);
}
int x_current_time(sqlite3_vfs*, double* out) {
    return real_vfs()->xCurrentTime(real_vfs(), out);
}
int x_get_last_error(sqlite3_vfs*, int size, char* out) {
    return real_vfs()->xGetLastError(real_vfs(), size, out);
}
int x_current_time_int64(sqlite3_vfs*, sqlite3_int64* out) {
    return real_vfs()->xCurrentTimeInt64(real_vfs(), out);
}

} // namespace

fault_vfs::fault_vfs() {
    sqlite3_vfs* real = real_vfs();
    if (real == nullptr)
        throw std::runtime_error("the unix VFS is not available");
    static sqlite3_vfs vfs{};
    vfs.iVersion = 2;
    vfs.szOsFile = static_cast<int>(real_offset) + real->szOsFile;
    vfs.mxPathname = real->mxPathname;
    vfs.zName = name;
    vfs.xOpen = x_open;
    vfs.xDelete = x_delete;
    vfs.xAccess = x_access;
    vfs.xFullPathname = x_full_pathname;
    vfs.xDlOpen = x_dl_open;
    vfs.xDlError = x_dl_error;
    vfs.xDlSym = x_dl_sym;
    vfs.xDlClose = x_dl_close;
    vfs.xRandomness = x_randomness;
    vfs.xSleep = x_sleep;
    vfs.xCurrentTime = x_current_time;
    vfs.xGetLastError = x_get_last_error;
    vfs.xCurrentTimeInt64 = x_current_time_int64;
    if (sqlite3_vfs_register(&vfs, 0) != SQLITE_OK)
        throw std::runtime_error("cannot register the fault VFS");
}

fault_vfs& fault_vfs::instance() {
    static fault_vfs v;
    return v;
}

std::string fault_vfs::uri(const std::string& path) {
    instance();
    std::string out = "file:";
    for (const char c : path) {
        if (c == '%' || c == '?' || c == '#') { // what a URI path cannot hold as is
            constexpr const char* hex = "0123456789ABCDEF";
            out += '%';
            out += hex[static_cast<unsigned char>(c) >> 4];
            out += hex[static_cast<unsigned char>(c) & 15];
        } else {
            out += c;
        }
    }
    return out + "?vfs=" + name;
}

void fault_vfs::arm(const fault_plan& plan) {
    auto& s = state();
    std::lock_guard lock(s.mutex);
    s.plan = plan;
    s.operations = s.faults = s.lock_attempts = 0;
}

void fault_vfs::disarm() {
    auto& s = state();
    std::lock_guard lock(s.mutex);
    s.plan.fail_at = 0;
    s.plan.busy_write_locks = 0;
}

std::uint64_t fault_vfs::operations() const {
    auto& s = state();
    std::lock_guard lock(s.mutex);
    return s.operations;
}

std::uint64_t fault_vfs::faults() const {
    auto& s = state();
    std::lock_guard lock(s.mutex);
    return s.faults;
}

} // namespace sqlite_hybrid::test
