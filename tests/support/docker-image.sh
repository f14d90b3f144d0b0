#!/bin/sh
# Builds the local test image interlook-test:latest (busybox: httpd, sleep)
# when it is missing. No registry is needed: busybox-static goes into a folder
# that is imported as an image.
set -eu
docker image inspect interlook-test:latest >/dev/null 2>&1 && exit 0
busybox=/bin/busybox # from Debian's busybox-static: no shared libraries to bring along
[ -x "$busybox" ] || { echo "docker-image: busybox-static is not installed" >&2; exit 1; }
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/www"
cp "$busybox" "$root/bin/busybox"
for applet in sh httpd sleep echo cat ls; do ln -s busybox "$root/bin/$applet"; done
echo "interlook test page" > "$root/www/index.html"
tar -C "$root" -c . | docker import -c 'CMD ["/bin/httpd", "-f", "-p", "80", "-h", "/www"]' - interlook-test:latest >/dev/null
echo "docker-image: built interlook-test:latest"
