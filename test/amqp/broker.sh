#!/usr/bin/env bash
# A private RabbitMQ broker for tests, one per scratch directory.
#
#   broker.sh start   DIR [PORT]   start (PORT 0 or none: pick a free one)
#   broker.sh stop    DIR          stop; a no-op (exit 0) when nothing runs
#   broker.sh restart DIR          stop, then start on the same port and data
#   broker.sh status  DIR          exit 0 running, 3 stopped, 1 not answering
#   broker.sh adduser DIR USER PASSWORD [VHOST]   user with full rights on
#                                  VHOST (default /), created if missing
#   broker.sh ctl     DIR ARGS...  rabbitmqctl ARGS against this broker
#   broker.sh check                is a broker installed? (exit 0 or 1)
#
# Everything the broker owns lives under DIR: HOME and its .erlang.cookie,
# the Mnesia (message store) directory, logs, pid files, its config files
# (so /etc/rabbitmq cannot change a test), and broker.env, which records
# the ports and node name for stop/restart/status. The broker listens on
# 127.0.0.1 only, with its own epmd, distribution port and node name
# (partisan_amqp_PORT@localhost, which needs no DNS), so several brokers, a
# test run's own epmd and a system broker on 5672 never meet. Commands run
# with `env -i`: nothing from the caller's environment (ERL_EPMD_PORT set by
# the Makefile, ERL_FLAGS, RABBITMQ_*) reaches the broker.
#
# The guest/guest user works because clients connect from loopback.
# A start took 8-16 s on a quiet 2-core machine, a stop 2-3 s. Every wait
# is bounded: BROKER_START_TIMEOUT (default 60 s) for the port to open,
# BROKER_STOP_TIMEOUT (default 30 s) for rabbitmqctl stop, then kills. On a
# starved machine (load average in the hundreds) a start can miss its
# bound: it fails, prints the broker's log and stops what it started.
# Common_test suites use it through test/ct/partisan_ct_broker.erl:
#   B = partisan_ct_broker:start(Config), ... #{port := Port} = B, ...
#   partisan_ct_broker:stop(B)
set -euo pipefail

RMQ_BIN=${PARTISAN_RABBITMQ_BIN:-/usr/lib/rabbitmq/bin}
START_TIMEOUT=${BROKER_START_TIMEOUT:-60}
STOP_TIMEOUT=${BROKER_STOP_TIMEOUT:-30}
CTL_TIMEOUT=30     # one rabbitmqctl call, s (stop: STOP_TIMEOUT)
CTL_PORTS=10       # rabbitmqctl is itself a distributed node: its own ports

die() { echo "broker.sh: $*" >&2; exit 1; }

# --- ports ------------------------------------------------------------

listening_ports() { ss -Hltn | awk '{ sub(/.*:/, "", $4); print $4 }' | sort -un; }

port_listening() { [[ -n $(ss -Hltn "sport = :$1") ]]; }

# The first of N consecutive ports nobody listens on (nor port $2),
# chosen at random below the kernel's ephemeral range, so that no outgoing
# connection takes one between the choice and the bind.
pick_ports() {
    local n=$1 lo hi base i tries
    read -r lo _ < /proc/sys/net/ipv4/ip_local_port_range
    hi=$(( lo > 20000 + 1000 ? lo - 1 : 32767 ))
    declare -A busy=()
    for i in $(listening_ports) ${2:-}; do busy[$i]=1; done
    for ((tries = 0; tries < 100; tries++)); do
        base=$(( 20000 + (RANDOM * 32768 + RANDOM) % (hi - 20000 - n) ))
        for ((i = 0; i < n; i++)); do
            [[ -n ${busy[$((base + i))]:-} ]] && continue 2
        done
        echo "$base"
        return 0
    done
    die "no $n free consecutive ports in 20000-$hi"
}

amqp_accepts() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

# --- the broker's private environment ---------------------------------

set_dir() {
    DIR=$(realpath -m "$1")
    HOME_DIR=$DIR/home
    LOG_DIR=$DIR/log
    ENV_FILE=$DIR/broker.env
    PID_FILE=$DIR/rabbitmq.pid
    EPMD_PID_FILE=$DIR/epmd.pid
}

# Loads PORT, NODE, EPMD_PORT, DIST_PORT, CTL_PORT of the last start.
load_env() {
    [[ -f $ENV_FILE ]] || return 1
    # shellcheck source=/dev/null
    source "$ENV_FILE"
    set_env
}

# The broker's whole environment, for `env -i`. A command run in the
# background is given as `env -i "${RMQ_ENV[@]}" ...`, not through a shell
# function: a function would run in a forked bash that keeps the caller's
# stdout open (an Erlang port would then wait for it forever).
set_env() {
    RMQ_ENV=(PATH="$PATH" LANG=C.UTF-8 LC_ALL=C.UTF-8 HOME="$HOME_DIR"
        ERL_EPMD_PORT="$EPMD_PORT" ERL_EPMD_ADDRESS=127.0.0.1
        ERL_CRASH_DUMP="$LOG_DIR/erl_crash.dump"
        RABBITMQ_NODENAME="$NODE"
        RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
        RABBITMQ_NODE_PORT="$PORT"
        RABBITMQ_DIST_PORT="$DIST_PORT"
        RABBITMQ_CTL_DIST_PORT_MIN="$CTL_PORT"
        RABBITMQ_CTL_DIST_PORT_MAX="$((CTL_PORT + CTL_PORTS - 1))"
        RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
        RABBITMQ_MNESIA_BASE="$DIR/mnesia"
        RABBITMQ_LOG_BASE="$LOG_DIR"
        RABBITMQ_PID_FILE="$PID_FILE"
        RABBITMQ_ENABLED_PLUGINS_FILE="$DIR/enabled_plugins"
        RABBITMQ_CONFIG_FILE="$DIR/rabbitmq.conf"
        RABBITMQ_ADVANCED_CONFIG_FILE="$DIR/advanced.config"
        RABBITMQ_CONF_ENV_FILE="$DIR/rabbitmq-env.conf")
}

ctl() { env -i "${RMQ_ENV[@]}" timeout -k 5 "$CTL_TIMEOUT" "$RMQ_BIN/rabbitmqctl" -n "$NODE" "$@"; }

# --- processes ----------------------------------------------------------

# A zombie counts as gone. No fork: wait loops call it often, and forks
# are what gets slow on a loaded machine.
alive() {
    local stat
    [[ -n $1 ]] && { read -r stat < "/proc/$1/stat"; } 2>/dev/null || return 1
    stat=${stat##*) }
    [[ ${stat:0:1} != Z ]]
}

since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

# The broker's VM: the pid file once RabbitMQ wrote it, else (early in a
# boot, or after a crash) the beam whose arguments hold this HOME and
# `-s rabbit`; rabbitmqctl's own VM has the HOME but not `rabbit`.
broker_pid() {
    local p
    if [[ -f $PID_FILE ]] && p=$(<"$PID_FILE") && alive "$p"; then
        echo "$p"
        return 0
    fi
    for p in $(pgrep -x beam.smp || true); do
        if grep -qzFx -- "$HOME_DIR" "/proc/$p/cmdline" 2>/dev/null &&
           grep -qzFx -- rabbit "/proc/$p/cmdline" 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
}

# Every process of the broker: its session (start runs the VM in a session
# of its own, led by the rabbitmq-server shell script) and the descendants
# of that leader (erl_child_setup, inet_gethost, the disk monitor's sh).
# Should the session not be the broker's own, only the VM's descendants.
broker_processes() {
    local root session=1
    root=$(ps -o sid= -p "$1" | tr -d ' ')
    [[ -n $root ]] || return 0
    if [[ $root != "$1" ]] && ! grep -qzF rabbitmq-server "/proc/$root/cmdline" 2>/dev/null; then
        root=$1
        session=0
    fi
    ps -e -o pid= -o ppid= -o sid= | awk -v root="$root" -v session="$session" '
        { parent[$1] = $2; if (session && $3 == root) in_tree[$1] = 1 }
        END {
            in_tree[root] = 1
            do {
                grown = 0
                for (p in parent)
                    if (!(p in in_tree) && (parent[p] in in_tree)) { in_tree[p] = 1; grown = 1 }
            } while (grown)
            for (p in in_tree) print p
        }'
}

# Waits up to $2 seconds for every pid in $1 to exit.
wait_gone() {
    local deadline=$((SECONDS + $2)) p
    for p in $1; do
        while alive "$p"; do
            (( SECONDS < deadline )) || return 1
            sleep 0.1
        done
    done
}

# Our epmd, if alive; its name guards against a reused pid (env or setsid
# for the instant before they exec it).
epmd_pid() {
    local p comm
    [[ -f $EPMD_PID_FILE ]] && p=$(<"$EPMD_PID_FILE") && alive "$p" &&
        comm=$(cat "/proc/$p/comm" 2>/dev/null) &&
        [[ $comm == epmd || $comm == env || $comm == setsid ]] && echo "$p"
    return 0
}

# --- commands -----------------------------------------------------------

# The logs grow over restarts: log_tail shows what this start added.
declare -A LOG_OFFSET=()
mark_logs() {
    local f
    for f in "$LOG_DIR/$NODE.log" "$LOG_DIR/startup.log" "$LOG_DIR/epmd.log"; do
        LOG_OFFSET[$f]=$(stat -c %s "$f" 2>/dev/null || echo 0)
    done
}

log_tail() {
    local f
    for f in "${!LOG_OFFSET[@]}"; do
        if [[ -f $f ]] && (( $(stat -c %s "$f") > LOG_OFFSET[$f] )); then
            echo "--- last lines of $f"
            tail -c +$((LOG_OFFSET[$f] + 1)) "$f" | tail -n 30
        fi
    done >&2
    return 0
}

start_failed() {
    echo "broker.sh: $NODE did not start: $1" >&2
    log_tail
    cmd_stop "$DIR" > /dev/null
    exit 1
}

write_files() {
    mkdir -p "$HOME_DIR" "$LOG_DIR" "$DIR/mnesia"
    # The cookie exists before anything starts, or rabbitmqctl and the
    # broker race to create it ("Invalid challenge reply").
    if [[ ! -f $HOME_DIR/.erlang.cookie ]]; then
        (umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$HOME_DIR/.erlang.cookie")
        chmod 400 "$HOME_DIR/.erlang.cookie"
    fi
    echo '[].' > "$DIR/enabled_plugins"   # no plugins: faster boot, fewer ports
    : > "$DIR/rabbitmq-env.conf"           # instead of /etc/rabbitmq/rabbitmq-env.conf
    echo '# private test broker (test/amqp/broker.sh); defaults are enough' > "$DIR/rabbitmq.conf"
}

cmd_start() {
    set_dir "$1"
    local want=${2:-0} t0=$EPOCHREALTIME base pid deadline
    if ! [[ $want =~ ^[0-9]+$ ]] || (( want > 65535 )); then
        die "bad port: $want"
    fi
    if load_env; then
        pid=$(broker_pid)
        [[ -z $pid ]] || die "a broker already runs in $DIR ($NODE, port $PORT, pid $pid)"
        cmd_stop "$DIR" > /dev/null   # an epmd left by a crashed run
    fi
    if (( want == 0 )); then
        base=$(pick_ports $((3 + CTL_PORTS)))
        PORT=$base
        base=$((base + 1))
    else
        port_listening "$want" && die "port $want is in use: $(ss -Hltnp "sport = :$want")"
        PORT=$want
        base=$(pick_ports $((2 + CTL_PORTS)) "$want")
    fi
    NODE=partisan_amqp_${PORT}@localhost
    EPMD_PORT=$base
    DIST_PORT=$((base + 1))
    CTL_PORT=$((base + 2))
    write_files
    mark_logs
    printf 'PORT=%s\nNODE=%s\nEPMD_PORT=%s\nDIST_PORT=%s\nCTL_PORT=%s\n' \
        "$PORT" "$NODE" "$EPMD_PORT" "$DIST_PORT" "$CTL_PORT" > "$ENV_FILE"

    # Our own epmd, started here so that stop knows its pid for sure (one
    # the VM spawned would be an anonymous `epmd -daemon`).
    set_env
    env -i "${RMQ_ENV[@]}" setsid epmd -port "$EPMD_PORT" -address 127.0.0.1 \
        < /dev/null >> "$LOG_DIR/epmd.log" 2>&1 &
    # $! is epmd itself (env and setsid exec it): written now, so that a
    # failure from here on stops it too.
    echo $! > "$EPMD_PID_FILE"
    deadline=$((SECONDS + 10))
    until port_listening "$EPMD_PORT"; do
        alive "$(<"$EPMD_PID_FILE")" || start_failed "epmd exited (port $EPMD_PORT taken?)"
        (( SECONDS < deadline )) || start_failed "epmd not listening on $EPMD_PORT"
        sleep 0.1
    done
    local listener
    listener=$(ss -Hltnp "sport = :$EPMD_PORT" | grep -o 'pid=[0-9]*' | head -n 1 | cut -d= -f2)
    [[ -n $listener ]] && echo "$listener" > "$EPMD_PID_FILE"

    # The sbin wrapper would su to the rabbitmq user and drop this
    # environment; the script in /usr/lib/rabbitmq/bin runs as anyone.
    # Not `-detached`: that sends the VM's output to /dev/null, and with it
    # the only report of a boot that fails before logging is set up (a bad
    # config, a taken port). In the background, in its own session, its
    # output goes to startup.log and it outlives this script all the same.
    env -i -C "$DIR" "${RMQ_ENV[@]}" setsid "$RMQ_BIN/rabbitmq-server" \
        < /dev/null >> "$LOG_DIR/startup.log" 2>&1 &
    deadline=$((SECONDS + START_TIMEOUT))
    local grace=$((SECONDS + 5))
    until port_listening "$PORT" && amqp_accepts "$PORT"; do
        if [[ -z $(broker_pid) ]] && (( SECONDS >= grace )); then
            start_failed "the broker's VM exited"
        fi
        (( SECONDS < deadline )) || start_failed "port $PORT not open after ${START_TIMEOUT} s"
        sleep 0.2
    done
    ctl status > "$LOG_DIR/status.txt" 2>&1 || start_failed "rabbitmqctl status failed: $(tail -n 5 "$LOG_DIR/status.txt")"
    echo "started node=$NODE port=$PORT pid=$(broker_pid) epmd_port=$EPMD_PORT seconds=$(since "$t0") dir=$DIR"
}

cmd_stop() {
    set_dir "$1"
    local t0=$EPOCHREALTIME pid tree epmd
    if ! load_env; then
        echo "nothing to stop in $DIR"
        return 0
    fi
    pid=$(broker_pid)
    if [[ -n $pid ]]; then
        tree=$(broker_processes "$pid")
        # rabbitmqctl stop PIDFILE returns once that pid has exited; the
        # whole stop is bounded by STOP_TIMEOUT plus the kills' 15 s.
        local pidfile=()
        [[ -f $PID_FILE ]] && pidfile=("$PID_FILE")
        CTL_TIMEOUT=$STOP_TIMEOUT ctl stop "${pidfile[@]}" > "$LOG_DIR/stop.txt" 2>&1 || true
        if ! wait_gone "$pid" 5; then
            echo "broker.sh: $NODE still runs after rabbitmqctl stop ($(tail -n 1 "$LOG_DIR/stop.txt")), killing pid $pid" >&2
            kill -TERM "$pid" 2>/dev/null || true
            wait_gone "$pid" 5 || kill -KILL "$pid" 2>/dev/null || true
        fi
        # The VM's helpers exit when their pipes close; make sure.
        # shellcheck disable=SC2086  # one pid per word
        wait_gone "$tree" 5 || kill -KILL $tree 2>/dev/null || true
        wait_gone "$tree" 5 || die "pids $tree of $NODE still alive"
    fi
    epmd=$(epmd_pid)
    if [[ -z $pid && -z $epmd ]]; then
        echo "not running node=$NODE"
        rm -f "$PID_FILE" "$EPMD_PID_FILE"
        return 0
    fi
    if [[ -n $epmd ]]; then
        kill -TERM "$epmd" 2>/dev/null || true
        wait_gone "$epmd" 5 || kill -KILL "$epmd" 2>/dev/null || true
    fi
    rm -f "$PID_FILE" "$EPMD_PID_FILE"
    local deadline=$((SECONDS + 5))
    while port_listening "$PORT" || port_listening "$EPMD_PORT"; do
        (( SECONDS < deadline )) || die "port $PORT or $EPMD_PORT still open after stop"
        sleep 0.1
    done
    echo "stopped node=$NODE seconds=$(since "$t0")"
}

cmd_restart() {
    set_dir "$1"
    load_env || die "no broker was started in $DIR"
    local port=$PORT
    cmd_stop "$DIR"
    cmd_start "$DIR" "$port"
}

cmd_status() {
    set_dir "$1"
    local pid=
    load_env && pid=$(broker_pid)
    if [[ -z $pid ]]; then
        echo "stopped"
        exit 3
    fi
    if ctl status > /dev/null 2>&1; then
        echo "running node=$NODE port=$PORT pid=$pid"
    else
        echo "not answering node=$NODE port=$PORT pid=$pid"
        exit 1
    fi
}

cmd_adduser() {
    set_dir "$1"
    local user=$2 password=$3 vhost=${4:-/}
    load_env || die "no broker in $DIR"
    ctl list_vhosts --quiet --no-table-headers 2>/dev/null | grep -qFx -- "$vhost" ||
        ctl add_vhost "$vhost"
    ctl add_user "$user" "$password"
    ctl set_permissions -p "$vhost" "$user" '.*' '.*' '.*'
}

cmd_check() {
    local missing=()
    for f in "$RMQ_BIN/rabbitmq-server" "$RMQ_BIN/rabbitmqctl"; do
        [[ -x $f ]] || missing+=("$f (apt-get install rabbitmq-server)")
    done
    for c in erl epmd ss pgrep timeout setsid awk; do
        command -v "$c" > /dev/null || missing+=("$c")
    done
    if (( ${#missing[@]} )); then
        echo "missing: ${missing[*]}"
        exit 1
    fi
    echo "ok"
}

case ${1:-} in
    start)   (( $# == 2 || $# == 3 )) || die "usage: $0 start DIR [PORT]"; cmd_start "$2" "${3:-0}" ;;
    stop)    (( $# == 2 )) || die "usage: $0 stop DIR"; cmd_stop "$2" ;;
    restart) (( $# == 2 )) || die "usage: $0 restart DIR"; cmd_restart "$2" ;;
    status)  (( $# == 2 )) || die "usage: $0 status DIR"; cmd_status "$2" ;;
    adduser) (( $# == 4 || $# == 5 )) || die "usage: $0 adduser DIR USER PASSWORD [VHOST]"
             cmd_adduser "$2" "$3" "$4" "${5:-/}" ;;
    ctl)     (( $# >= 3 )) || die "usage: $0 ctl DIR ARGS..."
             set_dir "$2"; load_env || die "no broker in $DIR"; shift 2; ctl "$@" ;;
    check)   cmd_check ;;
    *)       sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
