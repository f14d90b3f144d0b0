#!/bin/sh
# Makes a throw-away CA, a server certificate for 127.0.0.1 and a client
# certificate, for testing the Docker provider against dockerd with --tlsverify.
#   usage: tls-certs.sh DIR    (writes ca.pem, server.pem, server-key.pem,
#                               cert.pem, key.pem, other-cert.pem, other-key.pem)
set -eu
dir=${1:?usage: tls-certs.sh DIR}
mkdir -p "$dir"
cd "$dir"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=interlook test CA" \
    -keyout ca-key.pem -out ca.pem 2>/dev/null
# server: 127.0.0.1 as a subject alternative name
openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout server-key.pem \
    -out server.csr 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 \
    -extfile server.ext -out server.pem 2>/dev/null
# client, signed by the CA
openssl req -newkey rsa:2048 -nodes -subj "/CN=interlook-docker" -keyout key.pem \
    -out client.csr 2>/dev/null
printf 'extendedKeyUsage=clientAuth\n' >client.ext
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 \
    -extfile client.ext -out cert.pem 2>/dev/null
# another client, self-signed: the daemon must refuse it
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=stranger" \
    -keyout other-key.pem -out other-cert.pem 2>/dev/null
chmod 600 ./*key.pem
