#!/usr/bin/env bash
# Installs the Debian 12 packages partisan needs. With --if-missing it does
# nothing when they are all there already (so `make` can call it cheaply).
set -euo pipefail

packages=(g++ make cmake pkg-config procps iproute2
          erlang-nox erlang-dev erlang-common-test erlang-eunit rebar3
          libasio-dev libboost-program-options-dev catch2 libssl-dev librabbitmq-dev gnuplot-nox
          clang libclang-rt-14-dev   # clang + its runtime: the libFuzzer targets (make fuzz)
          rabbitmq-server amqp-tools)  # a private broker per AMQP test (test/amqp/broker.sh)
# rabbitmq-server enables a system service; where systemd runs, apt starts
# it (5672, 25672, epmd on 4369). The test brokers never use it and do not
# collide with it: they take other ports, their own epmd and node names.

if [[ ${1:-} == --if-missing ]]; then
    missing=()
    for p in "${packages[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [[ ${#missing[@]} -eq 0 ]] && exit 0
    echo "missing packages: ${missing[*]}"
fi

if [[ $(id -u) -ne 0 ]]; then
    echo "run as root (or: sudo $0) to install: ${packages[*]}" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends ca-certificates "${packages[@]}"
