/* HP's UdpClient (argv[1] "udp") or UdpArqClient ("arq") in C against the server at
 * 127.0.0.1:argv[2]: once ready (OnConnect for UDP, OnHandShake for ARQ) it sends 20 messages
 * one at a time, each of a different size, checks every echo byte for byte, then prints
 * "done 20" and the client's getters, stops and destroys. */
#include <hpsocket/HPSocket4C.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define COUNT 20
static int arq = 0;
static volatile int echoed = 0;
static volatile int failed = 0;
static volatile int closed = 0;

static int size_of(int i) { return arq ? 1 + i * 211 : 1 + i * 50; }

static void send_next(HP_Client c, int i)
{
    BYTE buf[4200];
    int n = size_of(i);
    for (int k = 0; k < n; k++)
        buf[k] = (BYTE)(i * 31 + k);
    if (!HP_Client_Send(c, buf, n)) {
        printf("send %d failed: %d\n", i, SYS_GetLastError());
        failed = 1;
    }
}

static En_HP_HandleResult __HP_CALL OnConnect(HP_Client pSender, HP_CONNID dwConnID)
{
    if (dwConnID != HP_Client_GetConnectionID(pSender))
        printf("connection id differs\n"), failed = 1;
    if (!arq)
        send_next(pSender, 0);
    return HR_OK;
}

static En_HP_HandleResult __HP_CALL OnHandShake(HP_Client pSender, HP_CONNID dwConnID)
{
    (void)dwConnID;
    if (arq)
        send_next(pSender, 0);
    return HR_OK;
}

static En_HP_HandleResult __HP_CALL OnReceive(HP_Client pSender, HP_CONNID dwConnID, const BYTE* pData, int iLength)
{
    (void)dwConnID;
    int i = echoed;
    if (iLength != size_of(i))
        return printf("echo %d: %d bytes, want %d\n", i, iLength, size_of(i)), failed = 1, HR_OK;
    for (int k = 0; k < iLength; k++)
        if (pData[k] != (BYTE)(i * 31 + k))
            return printf("echo %d: byte %d differs\n", i, k), failed = 1, HR_OK;
    if (arq) {
        /* On the client's thread: answered. */
        int waiting = -1;
        if (!HP_UdpArqClient_GetWaitingSendMessageCount(pSender, &waiting) || waiting < 0)
            printf("waiting count: %d\n", SYS_GetLastError()), failed = 1;
    }
    echoed = i + 1;
    if (echoed < COUNT)
        send_next(pSender, echoed);
    return HR_OK;
}

static En_HP_HandleResult __HP_CALL OnClose(HP_Client pSender, HP_CONNID dwConnID, En_HP_SocketOperation enOperation, int iErrorCode)
{
    (void)pSender;
    (void)dwConnID;
    printf("close %d %d\n", (int)enOperation, iErrorCode);
    closed = 1;
    return HR_OK;
}

int main(int argc, char** argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 3)
        return 2;
    arq = strcmp(argv[1], "arq") == 0;
    USHORT port = (USHORT)atoi(argv[2]);
    HP_UdpClientListener listener = arq ? Create_HP_UdpArqClientListener() : Create_HP_UdpClientListener();
    HP_Set_FN_Client_OnConnect(listener, OnConnect);
    HP_Set_FN_Client_OnHandShake(listener, OnHandShake);
    HP_Set_FN_Client_OnReceive(listener, OnReceive);
    HP_Set_FN_Client_OnClose(listener, OnClose);
    HP_UdpClient client = arq ? Create_HP_UdpArqClient(listener) : Create_HP_UdpClient(listener);
    if (HP_UdpClient_GetMaxDatagramSize(client) != 1432 || HP_UdpClient_GetDetectAttempts(client) != 3)
        return printf("HP's defaults\n"), 1;
    HP_UdpClient_SetDetectInterval(client, 20000);
    if (HP_UdpClient_GetDetectInterval(client) != 20000)
        return printf("settings not kept\n"), 1;
    if (arq) {
        HP_UdpArqClient_SetNoDelay(client, TRUE);
        HP_UdpArqClient_SetFlushInterval(client, 20);
        if (!HP_UdpArqClient_IsNoDelay(client) || HP_UdpArqClient_GetFlushInterval(client) != 20
            || HP_UdpArqClient_GetMaxTransUnit(client) != 1432)
            return printf("ARQ settings not kept\n"), 1;
        int w = 0;
        if (HP_UdpArqClient_GetWaitingSendMessageCount(client, &w))
            return printf("waiting before start\n"), 1;
    }
    /* TCP-only calls on a UDP client: refused. */
    if (!HP_Client_Start(client, "127.0.0.1", port, FALSE))
        return printf("start: %d %s\n", HP_Client_GetLastError(client), HP_Client_GetLastErrorDesc(client)), 1;
    if (HP_Client_PauseReceive(client, TRUE))
        return printf("pause accepted\n"), 1;
    for (int t = 0; t < 1000 && echoed < COUNT && !failed && !closed; t++)
        usleep(10000);
    if (failed || echoed != COUNT)
        return printf("echoed %d\n", echoed), 1;
    printf("done %d\n", echoed);
    TCHAR addr[64];
    int len = sizeof(addr);
    USHORT rport = 0;
    if (!HP_Client_GetRemoteHost(client, addr, &len, &rport) || rport != port || strcmp(addr, "127.0.0.1") != 0)
        return printf("remote %s %u\n", addr, rport), 1;
    len = sizeof(addr);
    USHORT lport = 0;
    if (!HP_Client_GetLocalAddress(client, addr, &len, &lport) || lport == 0)
        return printf("local address\n"), 1;
    if (!HP_Client_IsConnected(client) || HP_Client_GetState(client) != SS_STARTED)
        return printf("state\n"), 1;
    HP_Client_Stop(client);
    printf("stopped %d\n", (int)HP_Client_GetState(client));
    if (arq) {
        Destroy_HP_UdpArqClient(client);
        Destroy_HP_UdpArqClientListener(listener);
    } else {
        Destroy_HP_UdpClient(client);
        Destroy_HP_UdpClientListener(listener);
    }
    return 0;
}
