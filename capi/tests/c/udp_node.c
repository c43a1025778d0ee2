/* HP's UdpNode in C: bound to 127.0.0.1:0, it echoes every datagram to its sender with
 * HP_UdpNode_Send (the sender's address and port from OnReceive) and reports oversize
 * datagrams through OnError. Prints "port N" once started; "quit" on stdin stops it. */
#include <hpsocket/HPSocket4C.h>
#include <stdio.h>
#include <string.h>

static En_HP_HandleResult __HP_CALL OnReceive(HP_UdpNode pSender, LPCTSTR lpszRemoteAddress, USHORT usRemotePort, const BYTE* pData, int iLength)
{
    printf("from %s %d\n", lpszRemoteAddress, iLength);
    if (HP_UdpNode_GetExtra(pSender) != (PVOID)7)
        printf("extra lost\n");
    return HP_UdpNode_Send(pSender, lpszRemoteAddress, usRemotePort, pData, iLength) ? HR_OK : HR_ERROR;
}

static En_HP_HandleResult __HP_CALL OnError(HP_UdpNode pSender, En_HP_SocketOperation enOperation, int iErrorCode, LPCTSTR lpszRemoteAddress, USHORT usRemotePort, const BYTE* pData, int iLength)
{
    (void)pSender;
    (void)pData;
    (void)iLength;
    printf("error %d %d %s %d\n", (int)enOperation, iErrorCode, lpszRemoteAddress, usRemotePort != 0);
    return HR_OK;
}

static En_HP_HandleResult __HP_CALL OnShutdown(HP_UdpNode pSender)
{
    (void)pSender;
    printf("shutdown\n");
    return HR_OK;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    HP_UdpNodeListener listener = Create_HP_UdpNodeListener();
    HP_Set_FN_UdpNode_OnReceive(listener, OnReceive);
    HP_Set_FN_UdpNode_OnError(listener, OnError);
    HP_Set_FN_UdpNode_OnShutdown(listener, OnShutdown);
    HP_UdpNode node = Create_HP_UdpNode(listener);
    if (HP_UdpNode_GetMaxDatagramSize(node) != 1432 || HP_UdpNode_GetMultiCastTtl(node) != 1 || HP_UdpNode_IsMultiCastLoop(node))
        return printf("HP's defaults\n"), 1;
    HP_UdpNode_SetMaxDatagramSize(node, 1000);
    HP_UdpNode_SetWorkerThreadCount(node, 2);
    HP_UdpNode_SetExtra(node, (PVOID)7);
    if (HP_UdpNode_GetMaxDatagramSize(node) != 1000 || HP_UdpNode_GetWorkerThreadCount(node) != 2)
        return printf("settings not kept\n"), 1;
    if (HP_UdpNode_GetState(node) != SS_STOPPED || HP_UdpNode_Send(node, "127.0.0.1", 9, (const BYTE*)"x", 1))
        return printf("before start\n"), 1;
    if (!HP_UdpNode_Start(node, "127.0.0.1", 0))
        return printf("start: %d %s\n", HP_UdpNode_GetLastError(node), HP_UdpNode_GetLastErrorDesc(node)), 1;
    TCHAR addr[64];
    int len = sizeof(addr);
    USHORT port = 0;
    if (!HP_UdpNode_GetLocalAddress(node, addr, &len, &port) || strcmp(addr, "127.0.0.1") != 0 || port == 0)
        return printf("local address\n"), 1;
    /* Not a group member: no cast address, and SendCast is refused. */
    len = sizeof(addr);
    if (HP_UdpNode_GetCastMode(node) != CM_UNICAST || HP_UdpNode_GetCastAddress(node, addr, &len, &port)
        || HP_UdpNode_SendCast(node, (const BYTE*)"x", 1))
        return printf("cast on a unicast node\n"), 1;
    len = sizeof(addr);
    HP_UdpNode_GetLocalAddress(node, addr, &len, &port);
    printf("port %u\n", port);
    char line[16];
    while (fgets(line, sizeof(line), stdin))
        if (strncmp(line, "quit", 4) == 0)
            break;
    HP_UdpNode_Stop(node);
    printf("stopped %d\n", (int)HP_UdpNode_GetState(node));
    Destroy_HP_UdpNode(node);
    Destroy_HP_UdpNodeListener(listener);
    return 0;
}
