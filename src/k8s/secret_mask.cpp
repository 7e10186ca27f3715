#include "k8s/secret_mask.h"

namespace initwatch::k8s {

namespace {

// A value ends at white space, a quote or a shell operator: inside `sh -c '... --password=V &'`
// and a script's line as well as in an argument of its own.
const std::string kValueChar = R"([^\s'"&;|<>()`])";
const std::string kSecretWord =
    R"((?:password|passwd|token|secret|api[-_]?key|access[-_]?key|private[-_]?key|credentials?))";

}  // namespace

const std::vector<std::string>& secret_mask_patterns() {
    static const std::vector<std::string> patterns = {
        // --db-password=V, PASSWORD=V, client_secret=V, AWS_SECRET_ACCESS_KEY=V (and, failing
        // closed, --token-file=V)
        "(?i)" + kSecretWord + R"([\w.-]*=()" + kValueChar + "+)",
        // API_KEY=V, SSH_KEY=V: any *_KEY=
        "_(?i:key)=(" + kValueChar + "+)",
        // --password V inside one argument (sh -c TEXT, a script's line)
        R"((?i)--?[\w.-]*)" + kSecretWord + R"([\w.-]*\s+([^\s'"&;|<>()`-])" + kValueChar + "*)",
        // scheme://user:password@host, scheme://token@host
        R"([A-Za-z][A-Za-z0-9+.-]*://([^/\s'"@]+)@)",
    };
    return patterns;
}

const std::vector<std::string>& secret_flag_patterns() {
    static const std::vector<std::string> patterns = {R"((?i)--?[\w.-]*)" + kSecretWord};
    return patterns;
}

SecretMask::SecretMask() : redactor_(secret_mask_patterns(), secret_flag_patterns()) {}

void SecretMask::apply(model::ProcessSummary& p) const {
    redactor_.apply(p.argv);
    p.comm = redactor_.redact(p.comm);
}

model::Finding SecretMask::apply(model::Finding f) const {
    apply(f.init);
    if (f.entrypoint) apply(*f.entrypoint);
    const auto apply_live = [this](model::LiveProcess& p) {
        apply(p);
        if (p.started_by) apply(*p.started_by);
        if (p.launch) redactor_.apply(p.launch->argv);
        if (p.source) {
            p.source->text = redactor_.redact(p.source->text);
            p.source->suggestion = redactor_.redact(p.source->suggestion);
        }
    };
    if (f.worker) apply_live(*f.worker);
    for (auto& p : f.live) apply_live(p);
    f.diagnosis = redactor_.redact(f.diagnosis);
    return f;
}

}  // namespace initwatch::k8s
