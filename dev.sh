#!/bin/sh
# Postern developer entry point (used by the README and by CI).
#   ./dev.sh demo   install what is missing, build, run a demo instance
#   ./dev.sh test   install what is missing, build with ASan+UBSan, run
#                   every suite (meson test, then pytest)
set -eu
cd "$(dirname "$0")"

BUILD_PKGS="build-essential meson ninja-build pkg-config libgnutls28-dev zlib1g-dev libdb5.3-dev libcap-dev libidn-dev"
# postfix: the test suite runs its own instance from a temp dir as the MX
# in front of LMTP (never the system service); systemd: systemd-analyze
# verify of the unit file
TEST_PKGS="python3 python3-pytest gnutls-bin openssl passwd util-linux procps gsasl cyrus-clients swaks msmtp python3-aiosmtpd curl neomutt nodejs postfix systemd"

need_sudo() {
	if [ "$(id -u)" -eq 0 ]; then echo ""; else echo "sudo"; fi
}

install_missing() {
	missing=""
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
			missing="$missing $p"
	done
	if [ -n "$missing" ]; then
		echo "installing:$missing"
		SUDO=$(need_sudo)
		$SUDO apt-get update -qq
		# Postfix without a system configuration, and no package may
		# start a service while we install (policy-rc.d, removed after)
		echo "postfix postfix/main_mailer_type select No configuration" |
			$SUDO debconf-set-selections
		blocked=""
		if [ ! -e /usr/sbin/policy-rc.d ]; then
			printf '#!/bin/sh\nexit 101\n' |
				$SUDO tee /usr/sbin/policy-rc.d >/dev/null
			$SUDO chmod 755 /usr/sbin/policy-rc.d
			blocked=1
		fi
		DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
		if [ -n "$blocked" ]; then
			$SUDO rm -f /usr/sbin/policy-rc.d
		fi
	fi
}

build() {
	dir=$1; shift
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" "$@" >/dev/null
	fi
	ninja -C "$dir"
}

case "${1:-}" in
demo)
	install_missing $BUILD_PKGS
	build build
	exec ./build/master/postern --demo "${2:-postern-demo}"
	;;
test)
	install_missing $BUILD_PKGS $TEST_PKGS
	# imapflow is installed with npm by its test; NodeSource's nodejs
	# bundles npm, Debian's needs the package (they conflict otherwise)
	command -v npm >/dev/null 2>&1 || install_missing npm
	# the optimized build the demo uses must compile too (-O2 finds other
	# -Werror warnings than the debug build)
	build build
	build build-test -Dsanitize=true -Dbuildtype=debug
	# Sanitizer reports abort the process so a test sees the failure.
	export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1"
	export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
	rc=0
	meson test -C build-test --print-errorlogs || rc=1
	POSTERN_BUILD="$PWD/build-test" /usr/bin/python3 -m pytest -q tests/protocol || rc=1
	exit $rc
	;;
*)
	echo "usage: $0 demo [DIR] | test" >&2
	exit 2
	;;
esac
