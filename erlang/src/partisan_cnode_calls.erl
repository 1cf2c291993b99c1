%% @private
%% @doc Control calls in flight to the C-node (docs/SHIM_INTERFACE.md),
%% kept by `partisan_cnode': each goes as `{'$call', self(), Ref,
%% Request}' to the C-node's main node name and is answered with
%% `{Ref, Reply}', or with `{error, timeout}' after
%% `?CNODE_CALL_TIMEOUT' ms (the timer sends `{timeout, TRef,
%% {call_timeout, Ref}}').
-module(partisan_cnode_calls).

-include_lib("kernel/include/logger.hrl").
-include("partisan_internal.hrl").

-export([new/0,
         send/4,
         answer/3,
         timeout/3]).

-export_type([calls/0]).

-opaque calls() :: #{reference() => {gen_server:from(), reference()}}.

%% @doc No call in flight.
-spec new() -> calls().
new() ->
    #{}.

%% @doc Sends `Request' for `From' to the C-node `CNode'; `noconnect'
%% when it is not connected.
-spec send(node(), term(), gen_server:from(), calls()) -> {ok, calls()} | noconnect.
send(CNode, Request, From, Calls) ->
    Ref = make_ref(),
    case erlang:send({?CNODE_PROCESS, CNode}, {'$call', self(), Ref, Request}, [noconnect]) of
        ok ->
            TRef = erlang:start_timer(?CNODE_CALL_TIMEOUT, self(), {call_timeout, Ref}),
            {ok, Calls#{Ref => {From, TRef}}};
        noconnect ->
            noconnect
    end.

%% @doc `{Ref, Reply}' arrived: passed on to the caller (a late one is
%% dropped).
-spec answer(reference(), term(), calls()) -> calls().
answer(Ref, Reply, Calls) ->
    case maps:take(Ref, Calls) of
        {{From, TRef}, Rest} ->
            _ = erlang:cancel_timer(TRef),
            gen_server:reply(From, Reply),
            Rest;
        error ->
            ?LOG_DEBUG(#{what => late_cnode_reply, reply => Reply}),
            Calls
    end.

%% @doc The timer `TRef' of call `Ref' fired: the caller gets
%% `{error, timeout}'.
-spec timeout(reference(), reference(), calls()) -> calls().
timeout(Ref, TRef, Calls) ->
    case maps:take(Ref, Calls) of
        {{From, TRef}, Rest} ->
            gen_server:reply(From, {error, timeout}),
            Rest;
        _ ->
            Calls
    end.
