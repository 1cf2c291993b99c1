#!/usr/bin/env escript
%% -*- erlang -*-
%%! -noinput +t 5000000 +S 1 +sbwt none +sbwtdcpu none +sbwtdio none -sname etf_oracle -dist_listen false -start_epmd false
%%
%% The BEAM's own verdict on external terms, for the differential fuzzer
%% (fuzz_etf_differential.cpp). Distributed, so that pids, ports and
%% references naming this node decode as local ones, as on the C-node's
%% BEAM; it neither listens nor registers with epmd.
%%
%% Frames are {packet, 4} on file descriptors 3 (in) and 4 (out), so that
%% nothing the runtime prints can get into them.
%%   hello   -> <<"H", Creation:32, NodeName/binary>>
%%   Input   -> <<Status, Used:32, Retiring>>
%%     Status 0: binary_to_term(<<131, Input/binary>>) decoded Used bytes
%%     (the version byte counted); 1: it raised badarg.
%%     Retiring 1: the atom or export table is filling up, so this BEAM
%%     exits after the reply and must be replaced.
-mode(compile).

-define(ATOM_HIGH_WATER, 4500000).
-define(EXPORT_HIGH_WATER, 450000).
-define(CHECK_EVERY, 2000).

main(_) ->
    %% eof: a fuzzer gone leaves no BEAM behind.
    Port = open_port({fd, 3, 4}, [binary, {packet, 4}, eof]),
    Hello = <<"H", (erlang:system_info(creation)):32, (atom_to_binary(node(), utf8))/binary>>,
    true = port_command(Port, Hello),
    loop(Port, 1).

loop(Port, N) ->
    receive
        {Port, {data, Input}} ->
            Retiring = N rem ?CHECK_EVERY =:= 0 andalso tables_filling(),
            true = port_command(Port, [verdict(Input), flag(Retiring)]),
            case Retiring of
                true -> erlang:halt(0);
                false -> loop(Port, N + 1)
            end;
        _ ->
            erlang:halt(0)
    end.

verdict(Input) ->
    try binary_to_term(<<131, Input/binary>>, [used]) of
        {_Term, Used} -> <<0, Used:32>>
    catch
        error:badarg -> <<1, 0:32>>
    end.

flag(true) -> 1;
flag(false) -> 0.

%% Decoding creates atoms and export entries for good; both tables have
%% limits at which the runtime stops.
tables_filling() ->
    erlang:system_info(atom_count) > ?ATOM_HIGH_WATER orelse export_entries() > ?EXPORT_HIGH_WATER.

export_entries() ->
    Info = erlang:system_info(info),
    case re:run(Info, "=index_table:export_list\nsize: \\d+\nlimit: \\d+\nentries: (\\d+)",
                [{capture, all_but_first, list}]) of
        {match, [Entries]} -> list_to_integer(Entries);
        nomatch -> 0
    end.
