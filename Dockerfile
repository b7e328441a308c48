# mnv2 serve image: build on Debian, run on a slim Debian with only the runtime libraries,
# as a non-root user.  docker build -t mnv2 .
# The model is mounted at /models/model.tflite (a volume, or an image built FROM this one).
FROM debian:bookworm AS build
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config libjpeg-dev libpng-dev zlib1g-dev libcurl4-openssl-dev \
      libarchive-dev libssl-dev libpugixml-dev nlohmann-json3-dev libcpp-httplib-dev ca-certificates \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release -DMNV2_BUILD_TESTS=OFF -DMNV2_BUILD_BENCH=OFF \
    && cmake --build /build -j"$(nproc)" --target mnv2_cli \
    && strip /build/mnv2

FROM debian:bookworm-slim
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libjpeg62-turbo libpng16-16 zlib1g libcurl4 libarchive13 libpugixml1v5 libcpp-httplib0.11 \
      ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /home/mnv2 --create-home mnv2 \
    && mkdir -p /models && chown mnv2 /models
COPY --from=build /build/mnv2 /usr/local/bin/mnv2
USER 10001
ENV MNV2_HOME=/home/mnv2/.cache/mnv2
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/mnv2"]
CMD ["serve", "--host=0.0.0.0", "--port=8080", "--model=/models/model.tflite"]
