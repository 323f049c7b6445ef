// registry.cc: the simulator runtime's kernel registry, the sources it was
// built from, its settings and small helpers, with their part of the C ABI
// (cudasim_abi.h). Design: docs/CUDASIM.md section 3.10.
#include <cxxabi.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "cudasim_abi.h"
#include "runtime_internal.h"

namespace cudasim {
namespace detail {

// ---------------------------------------------------------------------------
// Small helpers.

std::string strf(const char* f, ...) {
	char buf[1024];
	va_list ap;
	va_start(ap, f);
	vsnprintf(buf, sizeof buf, f, ap);
	va_end(ap);
	return buf;
}

char* dup(const std::string& s) {
	char* p = static_cast<char*>(std::malloc(s.size() + 1));
	std::memcpy(p, s.c_str(), s.size() + 1);
	return p;
}

[[noreturn]] void fatal(const std::string& msg) {
	std::fprintf(stderr, "cudasim: fatal: %s\n", msg.c_str());
	std::fflush(stderr);
	std::abort();
}

namespace {

// Source paths arrive as the compiler saw them ("../../kernels/src/x.cu");
// messages show them from the first path element that is not "." or "..".
const char* short_path(const char* f) {
	while (f[0] == '.' && (f[1] == '/' || (f[1] == '.' && f[2] == '/'))) f += f[1] == '/' ? 2 : 3;
	return f;
}

}  // namespace

std::string site_str(const Site* s) {
	if (!s) return "?";
	return strf("%s at %s:%d", s->what, short_path(s->file), s->line);
}

// ---------------------------------------------------------------------------
// Settings.

Settings::Settings() {
	if (const char* v = std::getenv("CUDASIM_THREADS")) force_threads = std::strcmp(v, "1") == 0;
	if (const char* v = std::getenv("CUDASIM_TIMEOUT")) {
		double s = std::strtod(v, nullptr);
		if (s > 0) timeout_ms = int64_t(s * 1000);
	}
	if (const char* v = std::getenv("CUDASIM_STRICT")) strict = std::strcmp(v, "0") != 0;
}

Settings& settings() {
	static Settings s;
	return s;
}

// ---------------------------------------------------------------------------
// Kernel registry.

std::vector<Kernel*>& kernels() {
	static std::vector<Kernel*> v;
	return v;
}

}  // namespace detail

using namespace detail;

namespace {

Kernel* find_kernel(const char* name) {
	for (Kernel* k : kernels())
		if (k->name == name) return k;
	return nullptr;
}

std::string demangle(const char* mangled) {
	int status = 0;
	char* d = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
	if (status != 0 || !d) return mangled;
	std::string s(d);
	std::free(d);
	return s;
}

struct Source {
	std::string group, path, sha;
};
std::vector<Source>& sources() {
	static std::vector<Source> v;
	return v;
}

}  // namespace

void register_kernel(const char* name, LaunchThunk thunk, const ParamInfo* params, int nparams,
                     const char* const* names, int nnames, bool threaded) {
	if (find_kernel(name)) fatal(strf("kernel %s is registered twice", name));
	Kernel* k = new Kernel;
	k->name = name;
	k->thunk = thunk;
	k->threaded = threaded;
	for (int i = 0; i < nparams; i++) {
		Param p{params[i].kind, params[i].size, params[i].pointee_align, demangle(params[i].type_name), ""};
		p.name = nnames == nparams ? names[i] : strf("#%d", i);
		k->params.push_back(p);
	}
	kernels().push_back(k);
}

void set_launch_bounds(const char* name, unsigned max_threads) {
	Kernel* k = find_kernel(name);
	if (!k) fatal(strf("CUDASIM_LAUNCH_BOUNDS(%s): no such kernel registered before it", name));
	if (max_threads >= 1 && max_threads < k->max_threads) k->max_threads = max_threads;
}

void register_source(const char* group, const char* path, const char* sha256) {
	sources().push_back(Source{group, path, sha256});
}

}  // namespace cudasim

// ---------------------------------------------------------------------------
// C ABI.

using namespace cudasim;
using namespace cudasim::detail;

extern "C" {

int cudasim_kernel_count(void) { return int(kernels().size()); }

const char* cudasim_kernel_name(int k) {
	if (k < 0 || k >= int(kernels().size())) return "";
	return kernels()[k]->name.c_str();
}

int cudasim_kernel_find(const char* name) {
	auto& ks = kernels();
	for (size_t i = 0; i < ks.size(); i++)
		if (ks[i]->name == name) return int(i);
	return -1;
}

int cudasim_kernel_nparams(int k) {
	if (k < 0 || k >= int(kernels().size())) return -1;
	return int(kernels()[k]->params.size());
}

void cudasim_kernel_param(int k, int i, int* kind, int* size, const char** type, const char** name) {
	const Param& p = kernels()[k]->params[i];
	*kind = p.kind;
	*size = p.size;
	*type = p.type.c_str();
	*name = p.name.c_str();
}

char* cudasim_sources(void) {
	std::string s;
	for (const Source& src : sources()) s += src.group + " " + src.path + " " + src.sha + "\n";
	return dup(s);
}

void cudasim_set_force_threads(int on) { settings().force_threads = on != 0; }
void cudasim_set_timeout_ms(int64_t ms) { settings().timeout_ms = ms > 0 ? ms : 30000; }
void cudasim_set_strict(int on) { settings().strict = on != 0; }
int cudasim_asan(void) { return CUDASIM_ASAN; }

}  // extern "C"
