# PNG plots of the benchmark CSVs (test/bench/run_bench.sh calls it):
#   gnuplot -e "dir='bench/results'" test/bench/plot.gp
# Reads dir/exp*.csv (those present), writes dir/exp*.png; experiments 2 and
# 3 also from their *_shared_cap.csv (run with BENCH_LINK_RATE), if present.
if (!exists("dir")) dir = "bench/results"

set terminal pngcairo size 1500,900 font ",10" noenhanced
set datafile separator ","
set datafile columnheaders
set logscale x 2
set grid
set key top left
set style data linespoints
set yrange [0:*]
NaN = sqrt(-1)

exists_file(f) = system("test -f '" . f . "' && echo 1 || echo 0") eq "1"
# The title's note for a table run with the shared link cap.
cap_note(name) = strstrt(name, "_shared_cap") > 0 ? " - shared link cap" : ""

# ---- Experiment 1: msgs/s against N, per RTT and payload
f = dir . "/exp1_library.csv"
if (exists_file(f)) {
    set output dir . "/exp1_library.png"
    set multiplot layout 2,3 title "Experiment 1: N workers send to one receiver (one channel); msgs/s, higher is better"
    do for [rtt in "1 20"] {
        do for [size in "1024 65536 1048576"] {
            set title sprintf("RTT %s ms, payload %s B", rtt, size)
            set xlabel "N (workers)"
            set ylabel "msgs/s"
            plot f using (($1 == rtt + 0 && $4 == size + 0) ? $5 : NaN):(column("dist_msgs_s")) \
                     title "Distributed Erlang" lw 2 pt 7, \
                 f using (($1 == rtt + 0 && $4 == size + 0) ? $5 : NaN):(column("partisan_msgs_s")) \
                     title "partisan (1 channel)" lw 2 pt 5
        }
    }
    unset multiplot
}

# ---- Experiment 2: throughput under background traffic; ping latency
do for [name in "exp2_channels exp2_channels_shared_cap"] {
f = dir . "/" . name . ".csv"
if (exists_file(f)) {
    set output dir . "/" . name . ".png"
    set multiplot layout 2,2 title "Experiment 2: 1 KiB requests with 1 MiB background traffic" . cap_note(name)
    do for [rtt in "1 20"] {
        set title sprintf("RTT %s ms, background on: request msgs/s (higher is better)", rtt)
        set xlabel "N (workers)"
        set ylabel "msgs/s"
        set logscale x 2
        set style data linespoints
        plot for [sys in "dist partisan_1ch partisan_3ch"] \
             sprintf("< awk -F, 'NR == 1 || ($1 == %s && $3 == \"on\" && $7 == \"%s\")' '%s'", rtt, sys, f) \
             using 5:(column("msgs_s")) with linespoints title sys lw 2
    }
    do for [rtt in "1 20"] {
        set title sprintf("RTT %s ms: ping-pong latency (1 KiB), p50 and p99 (lower is better)", rtt)
        unset logscale x
        set yrange [*:*]
        set logscale y
        set xlabel ""
        set ylabel "ms"
        set xrange [-0.5:5.5]
        set xtics ("dist quiet" 0, "dist loaded" 1, "1ch quiet" 2, "1ch loaded" 3, "3ch quiet" 4, "3ch loaded" 5)
        set style fill solid 0.6
        set boxwidth 0.35
        sx(s, l) = (s eq "dist" ? 0 : s eq "partisan_1ch" ? 2 : 4) + (l eq "on" ? 1 : 0)
        plot f using (($1 == rtt + 0 && $5 == 1) ? sx(strcol("system"), strcol("background")) - 0.18 : NaN):(column("ping_p50_ms")) \
                 with boxes title "p50", \
             f using (($1 == rtt + 0 && $5 == 1) ? sx(strcol("system"), strcol("background")) + 0.18 : NaN):(column("ping_p99_ms")) \
                 with boxes title "p99"
        unset logscale y
        set yrange [0:*]
        set xrange [*:*]
        set xtics autofreq
    }
    unset multiplot
    set logscale x 2
    set style data linespoints
}
}

# ---- Experiment 3: 1 MiB msgs/s against N, per RTT, per parallelism
do for [name in "exp3_parallel exp3_parallel_shared_cap"] {
f = dir . "/" . name . ".csv"
if (exists_file(f)) {
    set output dir . "/" . name . ".png"
    set multiplot layout 1,2 title "Experiment 3: 1 MiB messages, one channel with K parallel connections (sender affinity); MiB/s, higher is better" . cap_note(name)
    do for [rtt in "1 20"] {
        set title sprintf("RTT %s ms", rtt)
        set xlabel "N (workers)"
        set ylabel "MiB/s (= 1 MiB msgs/s)"
        plot f using (($1 == rtt + 0) ? $5 : NaN):(column("dist_msgs_s")) title "Distributed Erlang" lw 3 pt 7, \
             for [k in "1 2 4 8"] f using (($1 == rtt + 0) ? $5 : NaN):(column("p" . k . "_msgs_s")) \
                 title "partisan K=" . k lw 2
    }
    unset multiplot
}
}

# ---- Experiment 4: requests/s against N, per RTT and workload
f = dir . "/exp4_echo_kv.csv"
if (exists_file(f)) {
    set output dir . "/exp4_echo_kv.png"
    set multiplot layout 2,2 title "Experiment 4: echo service and quorum KV store; requests/s, higher is better"
    do for [rtt in "1 20"] {
        do for [w in "echo kv"] {
            set title sprintf("RTT %s ms, %s", rtt, w)
            set xlabel "N (clients)"
            set ylabel "requests/s"
            plot f using (($1 == rtt + 0 && strcol("workload") eq w) ? $5 : NaN):(column("dist_req_s")) \
                     title "Distributed Erlang" lw 2 pt 7, \
                 f using (($1 == rtt + 0 && strcol("workload") eq w) ? $5 : NaN):(column("partisan_req_s")) \
                     title "partisan (partition keys)" lw 2 pt 5
        }
    }
    unset multiplot
}
