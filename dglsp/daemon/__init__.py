"""`dglsp serve`: the resident engine, one loaded model shared by every editor window of a user.

A Unix socket server (asyncio) around an in-process engine. Modules, one job each:
claim (take the socket: one daemon per socket, mode 0600 in a 0700 dir), connection (one
client's outbox), queue (fair turns across clients), server (load, dispatch, run requests),
main (foreground process, signals). The wire format is dglsp.engine.wire, shared with the
client, dglsp.engine.daemon_client. docs/daemon.md describes the whole.
"""
