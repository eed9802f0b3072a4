# syntax=docker/dockerfile:1
# One image recipe for the four stage services (distiller, scaler-trainer, finetuner, evaluator); SERVICE names the
# folder under services/ (Distiller, ScalerTrainer, Finetuner or Evaluator). Build from the repository root (CUDA by
# default; --build-arg TORCH_BACKEND=cpu for a CPU-only image):
#   docker build -f services/Worker.Dockerfile --build-arg SERVICE=Finetuner -t wavemesh/finetuner .
# TORCH_BACKEND picks libtorch's native package (cpu or cuda) and the runtime image: the ASP.NET Core image for cpu,
# a CUDA runtime image (CUDA_RUNTIME_IMAGE) with the ASP.NET Core runtime copied in for cuda.
ARG TORCH_BACKEND=cuda
ARG CUDA_RUNTIME_IMAGE=nvidia/cuda:12.8.1-runtime-ubuntu24.04

FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
ARG TORCH_BACKEND
ARG SERVICE
WORKDIR /src
COPY . .
RUN test -n "$SERVICE" && test -f "services/$SERVICE/WaveMesh.$SERVICE.csproj" \
    || { echo "SERVICE must name a stage service folder (Distiller, ScalerTrainer, Finetuner, Evaluator), got '$SERVICE'" >&2; exit 1; }
RUN --mount=type=cache,id=wavemesh-nuget,target=/root/.nuget/packages \
    dotnet publish services/${SERVICE}/WaveMesh.${SERVICE}.csproj -c Release -o /app -p:WaveMeshTorchBackend=$TORCH_BACKEND

FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS aspnet

FROM aspnet AS runtime-cpu
RUN apt-get update \
    && apt-get install -y --no-install-recommends curl \
    && rm -rf /var/lib/apt/lists/*

FROM ${CUDA_RUNTIME_IMAGE} AS runtime-cuda
# What the ASP.NET Core image sets up, on the CUDA image: the runtime, its native dependencies and the app user.
ENV APP_UID=1654 \
    ASPNETCORE_HTTP_PORTS=8080 \
    DOTNET_RUNNING_IN_CONTAINER=true \
    DOTNET_ROOT=/usr/share/dotnet
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl libssl3t64 tzdata \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid=$APP_UID app \
    && useradd --no-log-init --uid=$APP_UID --gid=$APP_UID --create-home app
COPY --from=aspnet /usr/share/dotnet /usr/share/dotnet
RUN ln -s /usr/share/dotnet/dotnet /usr/bin/dotnet

FROM runtime-${TORCH_BACKEND}
ARG SERVICE
ENV WAVEMESH_SERVICE=${SERVICE}
WORKDIR /app
COPY --from=build /app .
USER $APP_UID
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD curl -fsS http://localhost:8080/alive || exit 1
# exec: dotnet replaces the shell and receives the container's signals (docker stop shuts the worker down cleanly).
ENTRYPOINT ["/bin/sh", "-c", "exec dotnet \"WaveMesh.${WAVEMESH_SERVICE}.dll\" \"$@\"", "--"]
