%% @doc An epmd module for benchmarks: connections to chosen nodes go to
%% another address (a link emulator relaying to the node's real
%% distribution port) instead of the port epmd knows. Everything else is
%% passed to `erl_epmd'.
%%
%% Use on the connecting node:
%%
%%     BENCH_EPMD_PORTS="nodeb=45001,nodec@host=127.0.0.2:45002" \
%%       erl -sname a -epmd_module bench_epmd -pa DIR ...
%%
%% or, in the running node, `application:set_env(bench_epmd, ports, Routes)'
%% with `Routes' a list or map of `{Node, Port | {Ip, Port}}' (Node an atom
%% or string, `name' or `name@host'); the application environment wins over
%% the variable. A key without `@host' matches that name on any host; a
%% port without an address means 127.0.0.1 (where link_emulator listens
%% by default). The table is read at every lookup, so it may change while
%% the node runs. A malformed table raises `{bad_bench_epmd_ports, _}' in
%% the process setting up the connection, so the connection fails loudly.
%%
%% For the node being connected to, nothing changes: fix its distribution
%% port (`-kernel inet_dist_listen_min P inet_dist_listen_max P') and point
%% the emulator at it (`link_emulator --route EMU_PORT=127.0.0.1:P').
-module(bench_epmd).

%% erl_epmd callbacks (OTP 25)
-export([start_link/0, register_node/2, register_node/3, port_please/2, port_please/3,
         names/1, address_please/3, listen_port_please/2]).
%% the routing table, for checks and scripts
-export([routes/0, parse/1, lookup/2]).

%% Distribution protocol version given for a redirected node: OTP 23 to 25
%% all speak version 6 (the emulator cannot ask the target's epmd).
-define(DIST_VERSION, 6).
-define(ENV_VAR, "BENCH_EPMD_PORTS").

-type route() :: {Name :: string(), Host :: string() | any, inet:ip_address(), inet:port_number()}.

start_link() -> erl_epmd:start_link().

register_node(Name, Port) -> erl_epmd:register_node(Name, Port).

register_node(Name, Port, Family) -> erl_epmd:register_node(Name, Port, Family).

listen_port_please(Name, Host) -> erl_epmd:listen_port_please(Name, Host).

names(Host) -> erl_epmd:names(Host).

port_please(Name, Host) -> port_please(Name, Host, infinity).

port_please(Name, Host, Timeout) ->
    case lookup(Name, Host) of
        {ok, _Ip, Port} -> {port, Port, ?DIST_VERSION};
        none -> erl_epmd:port_please(Name, Host, Timeout)
    end.

%% inet_tcp_dist asks this first; an answer with a port skips port_please.
address_please(Name, Host, Family) ->
    case lookup(Name, Host) of
        {ok, Ip, Port} -> {ok, Ip, Port, ?DIST_VERSION};
        none -> erl_epmd:address_please(Name, Host, Family)
    end.

%% @doc Where to connect for node `Name' on `Host', if redirected.
-spec lookup(atom() | string(), atom() | string() | inet:ip_address()) ->
          {ok, inet:ip_address(), inet:port_number()} | none.
lookup(Name, Host) ->
    NameS = to_string(Name),
    HostS = host_string(Host),
    Match = [{Ip, Port} || {N, H, Ip, Port} <- routes(), N =:= NameS, H =:= any orelse H =:= HostS],
    case Match of
        [{Ip, Port} | _] -> {ok, Ip, Port};
        [] -> none
    end.

%% @doc The routing table now in force.
-spec routes() -> [route()].
routes() ->
    case application:get_env(bench_epmd, ports) of
        {ok, Routes} when is_map(Routes) -> parse(maps:to_list(Routes));
        {ok, Routes} -> parse(Routes);
        undefined ->
            case os:getenv(?ENV_VAR) of
                false -> [];
                Text -> parse(Text)
            end
    end.

%% @doc Parses `"name=port,name@host=ip:port"' or a list of `{Node, Target}'.
-spec parse(string() | [{atom() | string(), inet:port_number() | {inet:ip_address(), inet:port_number()}}]) ->
          [route()].
parse([]) -> [];
parse(Text) when is_integer(hd(Text)) ->
    [parse_entry(E) || E <- string:lexemes(Text, ", \t\n"), E =/= ""];
parse(Pairs) when is_list(Pairs) ->
    [route(Node, Target) || {Node, Target} <- Pairs].

parse_entry(Entry) ->
    case string:split(Entry, "=") of
        [Node, Target] -> route(Node, parse_target(Target, Entry));
        _ -> bad(Entry)
    end.

parse_target(Text, Entry) ->
    case string:split(Text, ":", trailing) of
        [Port] -> to_port(Port, Entry);
        [Ip, Port] ->
            case inet:parse_address(string:trim(Ip, both, "[]")) of
                {ok, Addr} -> {Addr, to_port(Port, Entry)};
                {error, _} -> bad(Entry)
            end
    end.

to_port(Text, Entry) ->
    try list_to_integer(Text) of
        P when P > 0, P < 65536 -> P;
        _ -> bad(Entry)
    catch error:badarg -> bad(Entry)
    end.

route(Node, Port) when is_integer(Port) -> route(Node, {{127, 0, 0, 1}, Port});
route(Node, {Ip, Port} = Target) when is_tuple(Ip), is_integer(Port), Port > 0, Port < 65536 ->
    case string:split(to_string(Node), "@") of
        [Name] when Name =/= "" -> {Name, any, Ip, Port};
        [Name, Host] when Name =/= "", Host =/= "" -> {Name, Host, Ip, Port};
        _ -> bad({Node, Target})
    end;
route(Node, Target) -> bad({Node, Target}).

-spec bad(term()) -> no_return().
bad(What) -> erlang:error({bad_bench_epmd_ports, What}).

to_string(A) when is_atom(A) -> atom_to_list(A);
to_string(S) when is_list(S) -> S;
to_string(B) when is_binary(B) -> binary_to_list(B).

host_string(Ip) when is_tuple(Ip) -> inet:ntoa(Ip);
host_string(Host) -> to_string(Host).
