/* A TcpPackServer echo in C: HP's 4-byte Pack header with flag 0x169 and a 64 KiB limit,
 * two worker threads; an extra value per connection set in OnAccept. stdin commands:
 * "ids" checks HP's GetAllConnectionIDs buffer protocol and the per-connection getters,
 * "quit" stops and destroys. */
#include <hpsocket/HPSocket4C.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long accepted = 0;

static En_HP_HandleResult __HP_CALL OnAccept(HP_Server pSender, HP_CONNID dwConnID, UINT_PTR soClient)
{
    (void)soClient;
    long n = __atomic_add_fetch(&accepted, 1, __ATOMIC_SEQ_CST);
    HP_Server_SetConnectionExtra(pSender, dwConnID, (PVOID)n);
    return HR_OK;
}

static En_HP_HandleResult __HP_CALL OnReceive(HP_Server pSender, HP_CONNID dwConnID, const BYTE* pData, int iLength)
{
    return HP_Server_Send(pSender, dwConnID, pData, iLength) ? HR_OK : HR_ERROR;
}

static En_HP_HandleResult __HP_CALL OnClose(HP_Server pSender, HP_CONNID dwConnID, En_HP_SocketOperation enOperation, int iErrorCode)
{
    PVOID extra = NULL;
    HP_Server_GetConnectionExtra(pSender, dwConnID, &extra);
    printf("close %ld %d %d\n", (long)extra, (int)enOperation, iErrorCode);
    return HR_OK;
}

static int check_ids(HP_Server s)
{
    DWORD n = HP_Server_GetConnectionCount(s);
    DWORD count = 0;
    if (HP_Server_GetAllConnectionIDs(s, NULL, &count) || count != n)
        return printf("ids protocol: NULL buffer gave %u, want %u\n", count, n), 0;
    HP_CONNID* ids = calloc(n, sizeof(HP_CONNID));
    DWORD room = n;
    if (!HP_Server_GetAllConnectionIDs(s, ids, &room) || room != n)
        return printf("ids: %u\n", room), 0;
    for (DWORD i = 0; i < n; i++) {
        TCHAR addr[64];
        int len = 2; /* too small: FALSE, and the length needed */
        USHORT port = 0;
        if (HP_Server_GetRemoteAddress(s, ids[i], addr, &len, &port) || len != 10)
            return printf("small address buffer: len %d\n", len), 0;
        if (!HP_Server_GetRemoteAddress(s, ids[i], addr, &len, &port) || strcmp(addr, "127.0.0.1") != 0 || port == 0)
            return printf("address %s %u\n", addr, port), 0;
        PVOID extra = NULL;
        DWORD period = 0;
        if (!HP_Server_GetConnectionExtra(s, ids[i], &extra) || extra == NULL)
            return printf("extra\n"), 0;
        if (!HP_Server_GetConnectPeriod(s, ids[i], &period) || !HP_Server_IsConnected(s, ids[i]))
            return printf("period\n"), 0;
    }
    free(ids);
    printf("ids %u ok\n", n);
    return 1;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    HP_TcpServerListener listener = Create_HP_TcpPackServerListener();
    HP_Set_FN_Server_OnAccept(listener, OnAccept);
    HP_Set_FN_Server_OnReceive(listener, OnReceive);
    HP_Set_FN_Server_OnClose(listener, OnClose);
    HP_TcpPackServer server = Create_HP_TcpPackServer(listener);
    HP_TcpPackServer_SetMaxPackSize(server, 0xFFFF);
    HP_TcpPackServer_SetPackHeaderFlag(server, 0x169);
    HP_Server_SetWorkerThreadCount(server, 2);
    HP_Server_SetMaxConnectionCount(server, 100);
    if (HP_TcpPackServer_GetMaxPackSize(server) != 0xFFFF || HP_TcpPackServer_GetPackHeaderFlag(server) != 0x169
        || HP_Server_GetWorkerThreadCount(server) != 2 || HP_Server_GetMaxConnectionCount(server) != 100)
        return printf("settings not kept\n"), 1;
    if (HP_Server_GetState(server) != SS_STOPPED)
        return printf("state before start\n"), 1;
    if (!HP_Server_Start(server, "127.0.0.1", 0))
        return printf("start failed %d %s\n", HP_Server_GetLastError(server), HP_Server_GetLastErrorDesc(server)), 1;
    if (HP_Server_Start(server, "127.0.0.1", 0) || HP_Server_GetLastError(server) != SE_ILLEGAL_STATE)
        return printf("second start not refused\n"), 1;
    TCHAR addr[64];
    int len = sizeof(addr);
    USHORT port = 0;
    if (!HP_Server_GetListenAddress(server, addr, &len, &port))
        return printf("listen address\n"), 1;
    printf("port %u\n", port);
    char line[64];
    while (fgets(line, sizeof(line), stdin)) {
        if (strncmp(line, "ids", 3) == 0 && !check_ids(server))
            return 1;
        if (strncmp(line, "quit", 4) == 0)
            break;
    }
    if (!HP_Server_Stop(server))
        return printf("stop failed\n"), 1;
    printf("stopped %d\n", (int)HP_Server_GetState(server));
    Destroy_HP_TcpPackServer(server);
    Destroy_HP_TcpPackServerListener(listener);
    return 0;
}
