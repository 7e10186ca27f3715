#include "meta/mountinfo.h"

#include <fcntl.h>
#include <libmount/libmount.h>

#include <cstdio>
#include <memory>

#include "util/file.h"

namespace initwatch::meta {

namespace {

// At most limits.max_bytes of the file, cut after its last whole line and after
// limits.max_entries lines. Never blocks: a FIFO put where the table is expected is no table.
std::string read_table(const std::string& path, const MountinfoLimits& limits) {
    util::FileRead r = util::read_bounded(AT_FDCWD, path, util::ReadOptions{limits.max_bytes});
    if (!r.ok()) return {};
    std::string& text = r.data;
    if (r.truncated) {
        const size_t last = text.rfind('\n');
        text.resize(last == std::string::npos ? 0 : last + 1);
    }
    size_t end = 0;
    for (size_t lines = 0; lines < limits.max_entries && end < text.size(); ++lines) {
        const size_t newline = text.find('\n', end);
        end = newline == std::string::npos ? text.size() : newline + 1;
    }
    text.resize(end);
    return std::move(text);
}

struct Query {
    const std::string& fstypes;
    const std::string& options;
};

// mnt_table_find_next_fs's match function: 1 for a mount the query asks for.
int matches(libmnt_fs* fs, void* data) {
    const auto* q = static_cast<const Query*>(data);
    if (!q->fstypes.empty() && !mnt_fs_match_fstype(fs, q->fstypes.c_str())) return 0;
    if (!q->options.empty() && !mnt_fs_match_options(fs, q->options.c_str())) return 0;
    return 1;
}

std::string field(const char* s) { return s ? s : ""; }

struct TableDeleter {
    void operator()(libmnt_table* t) const { mnt_unref_table(t); }
};
struct IterDeleter {
    void operator()(libmnt_iter* i) const { mnt_free_iter(i); }
};
struct FileCloser {
    void operator()(FILE* f) const { std::fclose(f); }
};

}  // namespace

std::vector<Mount> find_mounts(const std::string& mountinfo_path, const std::string& fstypes,
                               const std::string& options, const MountinfoLimits& limits) {
    return parse_mountinfo(read_table(mountinfo_path, limits), fstypes, options);
}

std::vector<Mount> parse_mountinfo(std::string text, const std::string& fstypes, const std::string& options) {
    if (text.empty()) return {};
    const std::unique_ptr<FILE, FileCloser> stream(fmemopen(text.data(), text.size(), "r"));
    const std::unique_ptr<libmnt_table, TableDeleter> table(mnt_new_table());
    if (!stream || !table) return {};
    // Without an error callback, libmount skips the lines it cannot parse.
    mnt_table_parse_stream(table.get(), stream.get(), "mountinfo");

    std::vector<Mount> out;
    const std::unique_ptr<libmnt_iter, IterDeleter> it(mnt_new_iter(MNT_ITER_FORWARD));
    if (!it) return {};
    Query query{fstypes, options};
    libmnt_fs* fs = nullptr;
    while (mnt_table_find_next_fs(table.get(), it.get(), matches, &query, &fs) == 0)
        out.push_back({field(mnt_fs_get_root(fs)), field(mnt_fs_get_target(fs)), field(mnt_fs_get_fstype(fs)),
                       field(mnt_fs_get_source(fs)), field(mnt_fs_get_options(fs)), mnt_fs_get_devno(fs)});
    return out;
}

std::optional<Mount> find_cgroup2(const std::string& mountinfo_path, const std::string& host_root) {
    std::string prefix = host_root;
    while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
    const std::vector<Mount> mounts = find_mounts(mountinfo_path, "cgroup2");
    if (!prefix.empty())
        for (const Mount& m : mounts)
            if (m.target.rfind(prefix + "/", 0) == 0) return m;
    for (const Mount& m : mounts)
        if (m.root == "/") return m;
    if (mounts.empty()) return std::nullopt;
    return mounts.front();
}

std::string find_cgroup2_mount(const std::string& mountinfo_path, const std::string& host_root) {
    const auto mount = find_cgroup2(mountinfo_path, host_root);
    return mount ? mount->target : "";
}

}  // namespace initwatch::meta
