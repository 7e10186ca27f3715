# initwatch as a node agent image: built on Debian 12 with the repository's own setup
# script, run on debian:12-slim with only the shared libraries the binary links.
#   docker build -t initwatch .        (or: buildah bud --layers -t initwatch .)
# The image needs a uid-0 container with CAP_BPF + CAP_PERFMON, host PID namespace and the
# host paths mounted: see deploy/kubernetes/daemonset.yaml.

FROM debian:12 AS build
WORKDIR /src
# Dependencies first, so that a source change does not reinstall them.
COPY tools/setup tools/apt-install tools/
RUN tools/setup --build-only
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr -DBUILD_TESTING=OFF \
    && cmake --build /build -j"$(nproc)" \
    && DESTDIR=/out cmake --install /build --strip

FROM debian:12-slim
# What `ldd initwatch` lists beyond libc/libstdc++/libgcc (already in the base):
# libbpf (+ libelf, zlib), spdlog (+ fmt), libmicrohttpd (Debian builds it with HTTPS
# support, which brings libgnutls30 along; initwatch serves plain HTTP only), RE2,
# prometheus-cpp's core (not its pull/push libraries) and libmount (+ libblkid, libselinux).
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libbpf1 libelf1 zlib1g libspdlog1.10 libfmt9 libmicrohttpd12 libre2-9 libcurl4 libyaml-cpp0.7 \
        libprometheus-cpp-core1.0 libmount1 \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/usr/sbin/initwatch /usr/sbin/initwatch
# Fail the build, not the pod, when a library is missing.
RUN ! ldd /usr/sbin/initwatch | grep 'not found'
EXPOSE 9090
# Exec form: initwatch is the container's PID 1, no shell in between.
ENTRYPOINT ["/usr/sbin/initwatch", "watch", "--json", "--metrics-address", ":9090"]
