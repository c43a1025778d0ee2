/* An SSL echo server in C: Create_HP_SSLServer, HP_SSLServer_SetupSSLContext with PEM files
 * (argv[1] certificate, argv[2] key), no client verification. Starting before the setup must
 * fail with SE_SSL_ENV_NOT_READY. Runs until stdin closes. */
#include <hpsocket/HPSocket4C-SSL.h>
#include <stdio.h>
#include <string.h>

static En_HP_HandleResult __HP_CALL OnHandShake(HP_Server pSender, HP_CONNID dwConnID)
{
    (void)pSender; (void)dwConnID;
    printf("handshake\n");
    return HR_OK;
}

static En_HP_HandleResult __HP_CALL OnReceive(HP_Server pSender, HP_CONNID dwConnID, const BYTE* pData, int iLength)
{
    printf("receive %d\n", iLength);
    return HP_Server_Send(pSender, dwConnID, pData, iLength) ? HR_OK : HR_ERROR;
}

static En_HP_HandleResult __HP_CALL OnClose(HP_Server pSender, HP_CONNID dwConnID, En_HP_SocketOperation enOperation, int iErrorCode)
{
    (void)pSender; (void)dwConnID;
    printf("close %d %d\n", (int)enOperation, iErrorCode);
    return HR_OK;
}

int main(int argc, char* argv[])
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc != 3)
        return 2;
    HP_TcpServerListener listener = Create_HP_TcpServerListener();
    HP_Set_FN_Server_OnHandShake(listener, OnHandShake);
    HP_Set_FN_Server_OnReceive(listener, OnReceive);
    HP_Set_FN_Server_OnClose(listener, OnClose);
    HP_SSLServer server = Create_HP_SSLServer(listener);
    if (HP_Server_Start(server, "127.0.0.1", 0) || HP_Server_GetLastError(server) != SE_SSL_ENV_NOT_READY)
        return printf("started without an SSL context\n"), 1;
    if (HP_SSLServer_SetupSSLContext(server, SSL_VM_NONE, "/nonexistent.pem", argv[2], NULL, NULL, NULL))
        return printf("a missing certificate file was accepted\n"), 1;
    if (!HP_SSLServer_SetupSSLContext(server, SSL_VM_NONE, argv[1], argv[2], NULL, NULL, NULL))
        return printf("setup failed: %s\n", HP_Server_GetLastErrorDesc(server)), 1;
    HP_SSLServer_SetSSLCipherList(server, "HIGH:!aNULL");
    if (strcmp(HP_SSLServer_GetSSLCipherList(server), "HIGH:!aNULL") != 0 || !HP_SSLServer_IsSSLAutoHandShake(server))
        return printf("ssl settings\n"), 1;
    if (!HP_Server_Start(server, "127.0.0.1", 0))
        return printf("start failed: %s\n", HP_Server_GetLastErrorDesc(server)), 1;
    if (!HP_Server_IsSecure(server))
        return printf("not secure\n"), 1;
    TCHAR addr[64];
    int len = sizeof(addr);
    USHORT port = 0;
    HP_Server_GetListenAddress(server, addr, &len, &port);
    printf("port %u\n", port);
    while (getchar() != EOF) {
    }
    HP_Server_Stop(server);
    Destroy_HP_SSLServer(server);
    Destroy_HP_TcpServerListener(listener);
    printf("done\n");
    return 0;
}
