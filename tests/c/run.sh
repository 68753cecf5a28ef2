#!/usr/bin/env bash
# The C ABI's tests: builds libtidelog (debug), writes its pkg-config file, checks the
# header compiles as C99, C11 and C++, checks that every exported function is used by
# a C test, compiles the C tests (gcc -Wall -Wextra -Werror) and the C++ example
# (g++) against the pkg-config flags, runs them, links one test statically, and runs
# every C test and the C++ example under Valgrind memcheck (no errors, no definite or
# indirect leaks).
# Usage: tests/c/run.sh   (run by tests/run_all.sh; needs gcc, g++, valgrind, pkg-config)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

step() { printf '\n==> %s\n' "$*"; }

# A missing tool is installed when this runs as root with apt-get (CI); otherwise
# the run fails and says how to install it. Nothing is skipped.
need() {
    local tool=$1 package=$2
    command -v "$tool" >/dev/null 2>&1 && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing $package (for $tool)"
        { apt-get install -y --no-install-recommends "$package" >/dev/null 2>&1 ||
          { apt-get update >/dev/null 2>&1 &&
            apt-get install -y --no-install-recommends "$package" >/dev/null 2>&1; }; } || true
    fi
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "error: $tool is required by the C ABI tests; install it with:" >&2
        echo "    sudo apt-get install $package" >&2
        exit 1
    fi
}
need gcc gcc
need g++ g++
need valgrind valgrind
need pkg-config pkg-config

step "libtidelog (debug) and its pkg-config file"
# The whole workspace, as the test command's Rust step builds it (a no-op after it):
# building tidelog-ffi alone would resolve other dependency features and compile half
# the dependency tree, DataFusion included, a second time.
cargo build --workspace --lib --bins --tests --examples --locked
pc=$(ffi/pkgconfig.sh debug)
export PKG_CONFIG_PATH=$(dirname "$pc")
libdir=$(pkg-config --variable=libdir tidelog)
echo "$pc: $(pkg-config --modversion tidelog), $(pkg-config --cflags --libs tidelog)"
build=$libdir/c-tests
mkdir -p "$build"

step "the header compiles as C99, C11 and C++11"
printf '#include "tidelog.h"\nint main(void) { return tidelog_version_number() == TIDELOG_VERSION_NUMBER ? 0 : 1; }\n' \
    > "$build/header_only.c"
gcc -std=c99 -Wall -Wextra -Werror -pedantic $(pkg-config --cflags tidelog) -fsyntax-only "$build/header_only.c"
gcc -std=c11 -Wall -Wextra -Werror -pedantic $(pkg-config --cflags tidelog) -fsyntax-only "$build/header_only.c"
g++ -std=c++11 -Wall -Wextra -Werror -pedantic $(pkg-config --cflags tidelog) -fsyntax-only -x c++ "$build/header_only.c"

step "every exported function is exercised by a C test"
missing=0
for fn in $(grep -oE '^[a-z_ *]*\btidelog_[a-z0-9_]+\(' include/tidelog.h | grep -oE 'tidelog_[a-z0-9_]+'); do
    grep -qw "$fn" tests/c/*.c tests/c/*.h || { echo "not used by any test: $fn"; missing=1; }
done
[ "$missing" = 0 ]
echo "$(grep -cE '^[a-z_ *]*\btidelog_[a-z0-9_]+\(' include/tidelog.h) functions, all used"

cflags=(-std=c11 -Wall -Wextra -Werror -pedantic -g -Itests/c)
tests=()
step "C tests: compile (gcc ${cflags[*]}) and run"
for src in tests/c/test_*.c; do
    name=$(basename "$src" .c)
    gcc "${cflags[@]}" $(pkg-config --cflags tidelog) "$src" -o "$build/$name" \
        $(pkg-config --libs tidelog) -lpthread
    tests+=("$name")
done
for name in "${tests[@]}"; do
    "$build/$name"
done

step "C++ example: compile (g++ -std=c++17 -Wall -Wextra -Werror -pedantic) and run"
g++ -std=c++17 -Wall -Wextra -Werror -pedantic -g $(pkg-config --cflags tidelog) \
    tests/cpp/example.cpp -o "$build/example" $(pkg-config --libs tidelog) -lpthread
"$build/example"

step "static linking (libtidelog.a and Libs.private)"
gcc "${cflags[@]}" $(pkg-config --cflags tidelog) tests/c/test_zero_copy.c \
    -o "$build/test_zero_copy_static" -L"$libdir" -Wl,-Bstatic -ltidelog -Wl,-Bdynamic \
    $(pkg-config --static --libs-only-l tidelog | sed 's/-ltidelog//')
if ldd "$build/test_zero_copy_static" | grep -q libtidelog; then
    echo "error: the static test binary still loads libtidelog.so" >&2
    exit 1
fi
"$build/test_zero_copy_static"

step "Valgrind memcheck ($(valgrind --version))"
# See tests/c/valgrind/uring_wait_shim.c: Valgrind 3.19 holds its scheduler lock
# while a thread waits in io_uring_enter, which deadlocks glommio; the shim waits the
# same way with poll(2). TL_PREEMPT_TIMER_US: a longer glommio preemption timer,
# because Valgrind's first run of glommio's code is slower than the default 2 ms
# timer allows (EngineConfig::preempt_timer explains the start-up race).
gcc -shared -fPIC -O2 -Wall -Wextra -Werror tests/c/valgrind/uring_wait_shim.c \
    -o "$build/uring_wait_shim.so" -ldl
# --fair-sched=yes: Valgrind runs one thread at a time, and its default lock (a pipe)
# lets the thread that releases it take it straight back. A core polling its io_uring
# then kept it for minutes while the thread preparing its spare segment, which the
# closing core waits for, never ran (seen twice on 2026-12-04: test_api and the C++
# example hung in Engine::close). The fair lock hands it round in order. The timeout
# turns any other hang into a failure that says so, not a stalled CI run.
failed=0
for name in "${tests[@]}" example; do
    log=$build/$name.valgrind.log
    status=0
    LD_PRELOAD=$build/uring_wait_shim.so TL_PREEMPT_TIMER_US=500000 \
        timeout 900 valgrind --quiet --fair-sched=yes --error-exitcode=99 --leak-check=full \
        --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
        --track-origins=yes --log-file="$log" "$build/$name" > "$log.out" 2>&1 || status=$?
    if [ "$status" = 0 ]; then
        echo "$name under valgrind: $(tail -n 1 "$log.out"); no memcheck errors, no leaks"
    else
        failed=1
        if [ "$status" = 124 ]; then
            echo "$name under valgrind FAILED: still running after 900 s (a hang), killed:"
        else
            echo "$name under valgrind FAILED (exit $status):"
        fi
        cat "$log.out" "$log"
    fi
done
# The set-up must still catch errors: a deliberate use after free is reported.
gcc -std=c11 -g $(pkg-config --cflags tidelog) tests/c/valgrind/must_fail.c \
    -o "$build/must_fail" $(pkg-config --libs tidelog)
rm -rf "$build/must_fail.data"
set +e
LD_PRELOAD=$build/uring_wait_shim.so TL_PREEMPT_TIMER_US=500000 \
    timeout 900 valgrind --quiet --fair-sched=yes --error-exitcode=99 \
    --log-file="$build/must_fail.valgrind.log" \
    "$build/must_fail" "$build/must_fail.data" > /dev/null 2>&1
status=$?
set -e
rm -rf "$build/must_fail.data"
if [ "$status" = 99 ] && grep -q "Invalid read" "$build/must_fail.valgrind.log"; then
    echo "must_fail under valgrind: the deliberate use after free was reported, as it must be"
else
    failed=1
    echo "must_fail under valgrind exited $status without reporting its use after free:"
    cat "$build/must_fail.valgrind.log"
fi
[ "$failed" = 0 ]
echo "C ABI: all tests passed"
