/* HP's UdpServer (argv[1] "udp") or UdpArqServer ("arq") echo in C: the peer's SOCKADDR in
 * OnAccept, an extra value per connection, settings read back, and over stdin: "ids" checks
 * the per-connection getters, "quit" stops and destroys. Prints "port N" once listening. */
#include <hpsocket/HPSocket4C.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long accepted = 0;
static int arq = 0;

static En_HP_HandleResult __HP_CALL OnAccept(HP_Server pSender, HP_CONNID dwConnID, UINT_PTR pSockAddr)
{
    const struct sockaddr_in* a = (const struct sockaddr_in*)pSockAddr;
    if (a == NULL || a->sin_family != AF_INET || a->sin_port == 0 || a->sin_addr.s_addr != htonl(INADDR_LOOPBACK)) {
        printf("bad peer address in OnAccept\n");
        return HR_ERROR;
    }
    long n = __atomic_add_fetch(&accepted, 1, __ATOMIC_SEQ_CST);
    HP_Server_SetConnectionExtra(pSender, dwConnID, (PVOID)n);
    return HR_OK;
}

static En_HP_HandleResult __HP_CALL OnHandShake(HP_Server pSender, HP_CONNID dwConnID)
{
    PVOID extra = NULL;
    HP_Server_GetConnectionExtra(pSender, dwConnID, &extra);
    printf("handshake %ld\n", (long)extra);
    return HR_OK;
}

static En_HP_HandleResult __HP_CALL OnReceive(HP_Server pSender, HP_CONNID dwConnID, const BYTE* pData, int iLength)
{
    if (iLength == 3 && memcmp(pData, "bye", 3) == 0)
        return HP_Server_Disconnect(pSender, dwConnID, TRUE) ? HR_OK : HR_ERROR;
    if (!HP_Server_Send(pSender, dwConnID, pData, iLength))
        return HR_ERROR;
    if (arq) {
        /* On the connection's thread: the echo just sent is waiting. */
        int waiting = -1;
        if (!HP_UdpArqServer_GetWaitingSendMessageCount(pSender, dwConnID, &waiting) || waiting < 1)
            printf("waiting %d\n", waiting);
    }
    return HR_OK;
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
    HP_CONNID* ids = calloc(n ? n : 1, sizeof(HP_CONNID));
    DWORD room = n;
    if (!HP_Server_GetAllConnectionIDs(s, ids, &room) || room != n)
        return printf("ids: %u\n", room), 0;
    for (DWORD i = 0; i < n; i++) {
        TCHAR addr[64];
        int len = sizeof(addr);
        USHORT port = 0;
        if (!HP_Server_GetRemoteAddress(s, ids[i], addr, &len, &port) || strcmp(addr, "127.0.0.1") != 0 || port == 0)
            return printf("remote address %s %u\n", addr, port), 0;
        len = sizeof(addr);
        USHORT lport = 0;
        if (!HP_Server_GetLocalAddress(s, ids[i], addr, &len, &lport) || lport == 0)
            return printf("local address\n"), 0;
        PVOID extra = NULL;
        DWORD period = 0, silence = 0;
        int pending = -1;
        if (!HP_Server_GetConnectionExtra(s, ids[i], &extra) || extra == NULL)
            return printf("extra\n"), 0;
        if (!HP_Server_GetConnectPeriod(s, ids[i], &period) || !HP_Server_GetSilencePeriod(s, ids[i], &silence)
            || silence > period || !HP_Server_IsConnected(s, ids[i]))
            return printf("periods %u %u\n", period, silence), 0;
        if (!HP_Server_GetPendingDataLength(s, ids[i], &pending) || pending < 0)
            return printf("pending\n"), 0;
        if (arq) {
            /* Off the connection's shard: refused with EAGAIN (see OnReceive for the count). */
            int waiting = -1;
            if (HP_UdpArqServer_GetWaitingSendMessageCount(s, ids[i], &waiting) || SYS_GetLastError() != EAGAIN)
                return printf("waiting off-shard\n"), 0;
        }
        /* TCP-only calls are refused on a UDP connection, not crashed on. */
        if (HP_Server_PauseReceive(s, ids[i], TRUE))
            return printf("pause accepted\n"), 0;
    }
    free(ids);
    if (HP_Server_IsConnected(s, 12345) || HP_Server_Send(s, 12345, (const BYTE*)"x", 1))
        return printf("unknown id accepted\n"), 0;
    printf("ids %u ok\n", n);
    return 1;
}

int main(int argc, char** argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    arq = argc > 1 && strcmp(argv[1], "arq") == 0;
    HP_UdpServerListener listener = arq ? Create_HP_UdpArqServerListener() : Create_HP_UdpServerListener();
    HP_Set_FN_Server_OnAccept(listener, OnAccept);
    HP_Set_FN_Server_OnHandShake(listener, OnHandShake);
    HP_Set_FN_Server_OnReceive(listener, OnReceive);
    HP_Set_FN_Server_OnClose(listener, OnClose);
    HP_UdpServer server = arq ? Create_HP_UdpArqServer(listener) : Create_HP_UdpServer(listener);
    if (HP_UdpServer_GetMaxDatagramSize(server) != 1432 || HP_UdpServer_GetDetectAttempts(server) != 3
        || HP_UdpServer_GetDetectInterval(server) != 60000)
        return printf("HP's defaults\n"), 1;
    HP_UdpServer_SetMaxDatagramSize(server, 1000);
    HP_UdpServer_SetDetectInterval(server, 30000);
    HP_Server_SetWorkerThreadCount(server, 2);
    if (HP_UdpServer_GetMaxDatagramSize(server) != 1000 || HP_UdpServer_GetDetectInterval(server) != 30000)
        return printf("settings not kept\n"), 1;
    if (arq) {
        if (HP_UdpArqServer_IsNoDelay(server) || HP_UdpArqServer_GetFlushInterval(server) != 60
            || HP_UdpArqServer_GetSendWndSize(server) != 128 || HP_UdpArqServer_GetRecvWndSize(server) != 512
            || HP_UdpArqServer_GetMinRto(server) != 30 || HP_UdpArqServer_GetMaxMessageSize(server) != 4096
            || HP_UdpArqServer_GetHandShakeTimeout(server) != 5000 || HP_UdpArqServer_GetFastLimit(server) != 5)
            return printf("HP's ARQ defaults\n"), 1;
        HP_UdpArqServer_SetNoDelay(server, TRUE);
        HP_UdpArqServer_SetFlushInterval(server, 20);
        HP_UdpArqServer_SetResendByAcks(server, 2);
        HP_UdpArqServer_SetMaxTransUnit(server, 0);
        if (!HP_UdpArqServer_IsNoDelay(server) || HP_UdpArqServer_GetFlushInterval(server) != 20
            || HP_UdpArqServer_GetResendByAcks(server) != 2 || HP_UdpArqServer_GetMaxTransUnit(server) != 1000)
            return printf("ARQ settings not kept\n"), 1;
    }
    if (!HP_Server_Start(server, "127.0.0.1", 0))
        return printf("start: %d %s\n", HP_Server_GetLastError(server), HP_Server_GetLastErrorDesc(server)), 1;
    TCHAR addr[64];
    int len = sizeof(addr);
    USHORT port = 0;
    if (!HP_Server_GetListenAddress(server, addr, &len, &port))
        return printf("listen address\n"), 1;
    printf("port %u\n", port);
    char line[64];
    while (fgets(line, sizeof(line), stdin)) {
        if (strncmp(line, "ids", 3) == 0) {
            if (!check_ids(server))
                return 1;
        } else if (strncmp(line, "quit", 4) == 0) {
            break;
        }
    }
    HP_Server_Stop(server);
    printf("stopped %d\n", (int)HP_Server_GetState(server));
    if (arq) {
        Destroy_HP_UdpArqServer(server);
        Destroy_HP_UdpArqServerListener(listener);
    } else {
        Destroy_HP_UdpServer(server);
        Destroy_HP_UdpServerListener(listener);
    }
    return 0;
}
