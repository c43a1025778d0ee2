/* HP-Socket's TestEcho server, in C on libhpsocket4c: a push-model TcpServer that sends back
 * what it receives. One worker (shard) unless argv[1] says otherwise; TCP_NODELAY; prints
 * "READY <port>" once listening and runs until stdin closes. */
#include <hpsocket/HPSocket4C.h>
#include <stdio.h>
#include <stdlib.h>

static En_HP_HandleResult __HP_CALL OnReceive(HP_Server pSender, HP_CONNID dwConnID, const BYTE* pData, int iLength)
{
    return HP_Server_Send(pSender, dwConnID, pData, iLength) ? HR_OK : HR_ERROR;
}

static En_HP_HandleResult __HP_CALL OnClose(HP_Server pSender, HP_CONNID dwConnID, En_HP_SocketOperation enOperation, int iErrorCode)
{
    (void)pSender; (void)dwConnID; (void)enOperation; (void)iErrorCode;
    return HR_OK;
}

int main(int argc, char* argv[])
{
    HP_TcpServerListener listener = Create_HP_TcpServerListener();
    HP_Set_FN_Server_OnReceive(listener, OnReceive);
    HP_Set_FN_Server_OnClose(listener, OnClose);
    HP_TcpServer server = Create_HP_TcpServer(listener);
    HP_Server_SetWorkerThreadCount(server, argc > 1 ? (DWORD)atoi(argv[1]) : 1);
    HP_Server_SetMaxConnectionCount(server, 100000);
    HP_TcpServer_SetNoDelay(server, TRUE);
    if (!HP_Server_Start(server, "127.0.0.1", 0)) {
        fprintf(stderr, "start: %s\n", HP_Server_GetLastErrorDesc(server));
        return 1;
    }
    TCHAR addr[64];
    int len = sizeof(addr);
    USHORT port = 0;
    HP_Server_GetListenAddress(server, addr, &len, &port);
    printf("READY %u\n", port);
    fflush(stdout);
    while (getchar() != EOF) {
    }
    HP_Server_Stop(server);
    Destroy_HP_TcpServer(server);
    Destroy_HP_TcpServerListener(listener);
    return 0;
}
